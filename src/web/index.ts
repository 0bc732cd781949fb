// What other stages may use of the dashboard's server side: sessions and their cookie and
// CSRF tokens, and the plugin that serves the built UI.
export { WebSessions } from './web-sessions.ts';
export type { SigninResult, WebSessionsOptions } from './web-sessions.ts';
export { SESSION_COOKIE, CSRF_HEADER, csrfTokenOf, csrfTokenMatches, readCookie, sessionIdOf } from './session-token.ts';
export { SigninThrottle } from './signin-throttle.ts';
export type { SigninThrottleOptions, ThrottleRefusal } from './signin-throttle.ts';
export { webUiPlugin, WEB_DIST_DIR } from './static-ui.ts';
export {
  createUser, updateUserAccount, deleteUserAccount, findUserAccount, userView, UserAccountError, USER_ROLES, MIN_PASSWORD_LENGTH, MAX_PASSWORD_LENGTH,
} from './user-accounts.ts';
export type { NewUserInput, UserView, UserAccountErrorCode } from './user-accounts.ts';
