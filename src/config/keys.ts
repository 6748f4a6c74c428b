// The one unknown-key check, for configs and sweep specs alike: a typo must fail loudly (an ignored field would
// still change a run's id) and say which known name was probably meant.

/** Levenshtein distance between a and b. */
function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length];
}

/**
 * The known name closest to `key`, ignoring case, when it is near enough to be a typo of it (edit distance at
 * most max(2, ⌊length/3⌋)); the first such name in `known` order on ties. Undefined: nothing close.
 */
export function closestKey(key: string, known: readonly string[]): string | undefined {
  const lower = key.toLowerCase();
  let best: { k: string; d: number } | undefined;
  for (const k of known) {
    const d = editDistance(lower, k.toLowerCase());
    if (!best || d < best.d) best = { k, d };
  }
  return best && best.d <= Math.max(2, Math.floor(key.length / 3)) ? best.k : undefined;
}

/** An unknown key, for building the error: where it was found, the suggestion (if any) and the known names. */
export interface UnknownKey {
  key: string;
  where: string;
  suggestion: string | undefined;
  known: readonly string[];
}

/** The config wording: `unknown field config.sed.windw (did you mean window?); known: window, k, …`. */
export function unknownFieldError(u: UnknownKey): Error {
  const hint = u.suggestion === undefined ? "" : ` (did you mean ${u.suggestion}?)`;
  return new Error(`unknown field ${u.where}.${u.key}${hint}; known: ${u.known.join(", ")}`);
}

/** Throws `makeError`'s error when `key` is not one of `known`. */
export function checkKey(
  key: string,
  known: readonly string[],
  where: string,
  makeError: (u: UnknownKey) => Error = unknownFieldError,
): void {
  if (known.includes(key)) return;
  throw makeError({ key, where, suggestion: closestKey(key, known), known });
}

/** Throws for the first key of `obj` that is not one of `known` (see checkKey), with a "did you mean". */
export function rejectUnknownKeys(
  obj: object,
  known: readonly string[],
  where: string,
  makeError: (u: UnknownKey) => Error = unknownFieldError,
): void {
  for (const k of Object.keys(obj)) checkKey(k, known, where, makeError);
}
