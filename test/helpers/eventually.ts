/** Polls `check` (a rejection counts as false) every `stepMs` until it is true or `ms` have passed; says which. */
export async function eventually(check: () => Promise<boolean>, ms = 15_000, stepMs = 50): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check().catch(() => false)) return true;
    await new Promise((r) => setTimeout(r, stepMs));
  }
  return false;
}
