import type { BrowserContext, Page } from 'playwright-core';

/** Opens the dashboard at `base` in a new page and signs in through its form, as a user would. */
export async function signInPage(context: BrowserContext, base: string, email: string, password: string): Promise<Page> {
  const p = await context.newPage();
  await p.goto(base);
  await p.getByLabel('Email').fill(email);
  await p.getByLabel('Password').fill(password);
  await p.getByRole('button', { name: 'Sign in' }).click();
  await p.getByRole('button', { name: 'Sign out' }).waitFor();
  return p;
}
