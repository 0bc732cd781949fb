// What other stages may use of compose/: payload schemas, the MIME builder, raw-message
// checks and template rendering.
export { ComposeError } from './compose-error.ts';
export type { ComposeErrorKind } from './compose-error.ts';
export { headerText, mailboxSchema, mailboxList, HEADER_INJECTION } from './mailbox-schema.ts';
export type { Mailbox } from './mailbox-schema.ts';
export { sendMessageSchema, rawMessageSchema, batchSchema, attachmentSchema, MAX_BATCH_MESSAGES, MAX_SCHEDULE_AHEAD_MS } from './send-schema.ts';
export type { SendMessageInput, RawMessageInput } from './send-schema.ts';
export { composeMessage, envelopeRecipients, toCrlf } from './compose-message.ts';
export type { ComposeOptions, ComposedMessage, MessageContent, ComposeAttachment } from './compose-message.ts';
export { prepareRawMessage } from './raw-message.ts';
export type { RawMessageOptions, PreparedRawMessage } from './raw-message.ts';
export { TemplateRenderer, TEMPLATE_FIELDS } from './template-renderer.ts';
export type { TemplateField, TemplateSource, RenderedTemplate } from './template-renderer.ts';
