// Numbers as users read them, the same in the bot and on the settings page (which bundles this
// module): thousands separators, and never a non-zero amount shown as 0.00.

/** A number as users read it: thousands separators, and enough digits that it never shows 0. */
export function money(n: number, minDigits = 2): string {
  const abs = Math.abs(n);
  let digits = minDigits;
  // A non-zero amount never shows as 0.00: add digits until its first one shows.
  while (abs > 0 && abs < 10 ** -digits && digits < 10) digits++;
  return n.toLocaleString("en-US", {
    minimumFractionDigits: minDigits,
    maximumFractionDigits: Math.max(digits, minDigits),
  });
}

/** A price or size as given (up to 8 decimals), with thousands separators. */
export function amount(n: number): string {
  return n.toLocaleString("en-US", { maximumFractionDigits: 8 });
}

/** A signed P&L: "+1,234.50", "−0.004" (a real minus sign), never "+0.00" for a tiny loss. */
export function signedMoney(n: number): string {
  return `${n < 0 ? "−" : "+"}${money(Math.abs(n))}`;
}

/** A signed percentage with two decimals, or more when two would show a non-zero one as 0. */
export function signedPercent(n: number): string {
  return `${n < 0 ? "−" : "+"}${money(Math.abs(n))} %`;
}

/** A duration as "5m", "3h 20m" or "4d 2h". */
export function age(ms: number): string {
  const m = Math.max(0, Math.floor(ms / 60_000));
  if (m < 60) return `${m}m`;
  const h = Math.floor(m / 60);
  return h < 48 ? `${h}h ${m % 60}m` : `${Math.floor(h / 24)}d ${h % 24}h`;
}
