// Shared by the numerical tests.

/** Max |x − y| relative to the reference's largest magnitude. */
export function maxRelErr(x: ArrayLike<number>, y: ArrayLike<number>): number {
  if (x.length !== y.length) throw new Error(`length ${x.length} vs ${y.length}`);
  let num = 0;
  let scale = 1e-12;
  for (let i = 0; i < x.length; i++) {
    num = Math.max(num, Math.abs(x[i] - y[i]));
    scale = Math.max(scale, Math.abs(y[i]));
  }
  return num / scale;
}
