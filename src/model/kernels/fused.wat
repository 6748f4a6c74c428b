;; Fused elementwise kernels for the wasm backend (see src/model/fusedKernels.ts). They read and write the
;; tensors of tfjs-backend-wasm in place: this module imports that backend's memory, and every pointer
;; is a byte offset into it. 128-bit SIMD throughout; callers guarantee counts and row widths divisible
;; by 4. Rebuild the embedded bytes with `npm run build:kernels` after editing.
(module
  (import "env" "memory" (memory 0))

  ;; (l0 + l1) + (l2 + l3)
  (func $hsum (param $v v128) (result f32)
    (f32.add
      (f32.add (f32x4.extract_lane 0 (local.get $v)) (f32x4.extract_lane 1 (local.get $v)))
      (f32.add (f32x4.extract_lane 2 (local.get $v)) (f32x4.extract_lane 3 (local.get $v)))))

;; y = gelu(x) = x·Φ(x) over n floats; when $dydx ≠ 0 also gelu'(x) = Φ(x) + x·φ(x).
  ;; Φ(x) = ½(1 + erf(x/√2)) with erf the rational approximation TensorFlow/Eigen use for float32 (odd
  ;; degree-13 numerator over even degree-8 denominator, argument clamped to [−4, 4] where erf is ±1 to float
  ;; precision); φ(x) = e^(−x²/2)/√(2π) with Cephes' expf (Cody–Waite reduction, argument clamped at −87 so
  ;; 2^n stays normal). All inline (V8 does not inline wasm calls, and a call spills the vectors), and pmin/pmax
  ;; (one instruction each on x86, unlike min/max with their NaN rules) for the clamps.
  (func (export "gelu") (param $x i32) (param $y i32) (param $dydx i32) (param $n i32)
    (local $end i32) (local $v v128) (local $a v128) (local $a2 v128) (local $p v128) (local $q v128)
    (local $cdf v128) (local $t v128) (local $k v128) (local $r v128)
    (local.set $end (i32.add (local.get $x) (i32.shl (local.get $n) (i32.const 2))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $x) (local.get $end)))
        (local.set $v (v128.load (local.get $x)))
        ;; a = clamp(x/√2, −4, 4)
        (local.set $a (f32x4.pmin (f32x4.pmax (f32x4.mul (local.get $v) (v128.const f32x4 0.70710678118654752 0.70710678118654752 0.70710678118654752 0.70710678118654752)) (v128.const f32x4 -4 -4 -4 -4)) (v128.const f32x4 4 4 4 4)))
        (local.set $a2 (f32x4.mul (local.get $a) (local.get $a)))
        (local.set $p (f32x4.add (f32x4.mul (local.get $a2) (v128.const f32x4 -2.72614225801306e-10 -2.72614225801306e-10 -2.72614225801306e-10 -2.72614225801306e-10)) (v128.const f32x4 2.77068142495902e-08 2.77068142495902e-08 2.77068142495902e-08 2.77068142495902e-08)))
        (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $a2)) (v128.const f32x4 -2.10102402082508e-06 -2.10102402082508e-06 -2.10102402082508e-06 -2.10102402082508e-06)))
        (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $a2)) (v128.const f32x4 -5.69250639462346e-05 -5.69250639462346e-05 -5.69250639462346e-05 -5.69250639462346e-05)))
        (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $a2)) (v128.const f32x4 -7.34990630326855e-04 -7.34990630326855e-04 -7.34990630326855e-04 -7.34990630326855e-04)))
        (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $a2)) (v128.const f32x4 -2.95459980854025e-03 -2.95459980854025e-03 -2.95459980854025e-03 -2.95459980854025e-03)))
        (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $a2)) (v128.const f32x4 -1.60960333262415e-02 -1.60960333262415e-02 -1.60960333262415e-02 -1.60960333262415e-02)))
        (local.set $q (f32x4.add (f32x4.mul (local.get $a2) (v128.const f32x4 -1.45660718464996e-05 -1.45660718464996e-05 -1.45660718464996e-05 -1.45660718464996e-05)) (v128.const f32x4 -2.13374055278905e-04 -2.13374055278905e-04 -2.13374055278905e-04 -2.13374055278905e-04)))
        (local.set $q (f32x4.add (f32x4.mul (local.get $q) (local.get $a2)) (v128.const f32x4 -1.68282697438203e-03 -1.68282697438203e-03 -1.68282697438203e-03 -1.68282697438203e-03)))
        (local.set $q (f32x4.add (f32x4.mul (local.get $q) (local.get $a2)) (v128.const f32x4 -7.37332916720468e-03 -7.37332916720468e-03 -7.37332916720468e-03 -7.37332916720468e-03)))
        (local.set $q (f32x4.add (f32x4.mul (local.get $q) (local.get $a2)) (v128.const f32x4 -1.42647390514189e-02 -1.42647390514189e-02 -1.42647390514189e-02 -1.42647390514189e-02)))
        ;; Φ = ½ + ½·erf(a), erf(a) = a·p/q
        (local.set $cdf (f32x4.add (v128.const f32x4 0.5 0.5 0.5 0.5)
          (f32x4.mul (v128.const f32x4 0.5 0.5 0.5 0.5) (f32x4.div (f32x4.mul (local.get $a) (local.get $p)) (local.get $q)))))
        (v128.store (local.get $y) (f32x4.mul (local.get $v) (local.get $cdf)))
        (if (local.get $dydx)
          (then
            ;; t = max(−x²/2, −87); k = round(t·log2 e); r = t − k·ln 2 (two parts)
            (local.set $t (f32x4.pmax (f32x4.mul (f32x4.mul (local.get $v) (local.get $v)) (v128.const f32x4 -0.5 -0.5 -0.5 -0.5)) (v128.const f32x4 -87 -87 -87 -87)))
            (local.set $k (f32x4.nearest (f32x4.mul (local.get $t) (v128.const f32x4 1.44269504088896341 1.44269504088896341 1.44269504088896341 1.44269504088896341))))
            (local.set $r (f32x4.sub
              (f32x4.sub (local.get $t) (f32x4.mul (local.get $k) (v128.const f32x4 0.693359375 0.693359375 0.693359375 0.693359375)))
              (f32x4.mul (local.get $k) (v128.const f32x4 -2.12194440e-4 -2.12194440e-4 -2.12194440e-4 -2.12194440e-4))))
            (local.set $p (f32x4.add (f32x4.mul (local.get $r) (v128.const f32x4 1.9875691500e-4 1.9875691500e-4 1.9875691500e-4 1.9875691500e-4)) (v128.const f32x4 1.3981999507e-3 1.3981999507e-3 1.3981999507e-3 1.3981999507e-3)))
            (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (v128.const f32x4 8.3334519073e-3 8.3334519073e-3 8.3334519073e-3 8.3334519073e-3)))
            (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (v128.const f32x4 4.1665795894e-2 4.1665795894e-2 4.1665795894e-2 4.1665795894e-2)))
            (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (v128.const f32x4 1.6666665459e-1 1.6666665459e-1 1.6666665459e-1 1.6666665459e-1)))
            (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (v128.const f32x4 5.0000001201e-1 5.0000001201e-1 5.0000001201e-1 5.0000001201e-1)))
            ;; e^r = p·r² + r + 1; φ·√(2π) = e^r · 2^k, 2^k from its exponent bits
            (local.set $p (f32x4.add
              (f32x4.add (f32x4.mul (local.get $p) (f32x4.mul (local.get $r) (local.get $r))) (local.get $r))
              (v128.const f32x4 1 1 1 1)))
            (local.set $p (f32x4.mul (local.get $p)
              (i32x4.shl (i32x4.add (i32x4.trunc_sat_f32x4_s (local.get $k)) (v128.const i32x4 127 127 127 127))
                (i32.const 23))))
            (v128.store (local.get $dydx)
              (f32x4.add (local.get $cdf)
                (f32x4.mul (local.get $v) (f32x4.mul (local.get $p) (v128.const f32x4 0.39894228040143268 0.39894228040143268 0.39894228040143268 0.39894228040143268)))))
            (local.set $dydx (i32.add (local.get $dydx) (i32.const 16)))))
        (local.set $x (i32.add (local.get $x) (i32.const 16)))
        (local.set $y (i32.add (local.get $y) (i32.const 16)))
        (br $next))))

  ;; LayerNorm over rows of width d: x̂ = (x − mean)·rstd, rstd = 1/√(var + eps), y = x̂·g + b (two passes
  ;; for the mean and variance, as tfjs' mean/sub/square/mean). x̂ and rstd are stored when their pointers
  ;; are non-zero.
  (func (export "layerNorm")
    (param $x i32) (param $g i32) (param $b i32) (param $y i32) (param $xh i32) (param $rs i32)
    (param $rows i32) (param $d i32) (param $eps f32)
    (local $rowBytes i32) (local $j i32) (local $inv f32) (local $acc v128) (local $v v128) (local $mean v128)
    (local $rstd f32) (local $rstdv v128)
    (local.set $rowBytes (i32.shl (local.get $d) (i32.const 2)))
    (local.set $inv (f32.div (f32.const 1) (f32.convert_i32_u (local.get $d))))
    (block $rowsDone
      (loop $row
        (br_if $rowsDone (i32.eqz (local.get $rows)))
        (local.set $acc (v128.const f32x4 0 0 0 0))
        (local.set $j (i32.const 0))
        (loop $sum
          (local.set $acc (f32x4.add (local.get $acc) (v128.load (i32.add (local.get $x) (local.get $j)))))
          (local.set $j (i32.add (local.get $j) (i32.const 16)))
          (br_if $sum (i32.lt_u (local.get $j) (local.get $rowBytes))))
        (local.set $mean (f32x4.splat (f32.mul (call $hsum (local.get $acc)) (local.get $inv))))
        (local.set $acc (v128.const f32x4 0 0 0 0))
        (local.set $j (i32.const 0))
        (loop $var
          (local.set $v (f32x4.sub (v128.load (i32.add (local.get $x) (local.get $j))) (local.get $mean)))
          (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul (local.get $v) (local.get $v))))
          (local.set $j (i32.add (local.get $j) (i32.const 16)))
          (br_if $var (i32.lt_u (local.get $j) (local.get $rowBytes))))
        (local.set $rstd (f32.div (f32.const 1)
          (f32.sqrt (f32.add (f32.mul (call $hsum (local.get $acc)) (local.get $inv)) (local.get $eps)))))
        (local.set $rstdv (f32x4.splat (local.get $rstd)))
        (if (local.get $rs) (then
          (f32.store (local.get $rs) (local.get $rstd))
          (local.set $rs (i32.add (local.get $rs) (i32.const 4)))))
        (local.set $j (i32.const 0))
        (loop $out
          (local.set $v (f32x4.mul
            (f32x4.sub (v128.load (i32.add (local.get $x) (local.get $j))) (local.get $mean)) (local.get $rstdv)))
          (if (local.get $xh) (then (v128.store (i32.add (local.get $xh) (local.get $j)) (local.get $v))))
          (v128.store (i32.add (local.get $y) (local.get $j))
            (f32x4.add
              (f32x4.mul (local.get $v) (v128.load (i32.add (local.get $g) (local.get $j))))
              (v128.load (i32.add (local.get $b) (local.get $j)))))
          (local.set $j (i32.add (local.get $j) (i32.const 16)))
          (br_if $out (i32.lt_u (local.get $j) (local.get $rowBytes))))
        (local.set $x (i32.add (local.get $x) (local.get $rowBytes)))
        (local.set $y (i32.add (local.get $y) (local.get $rowBytes)))
        (if (local.get $xh) (then (local.set $xh (i32.add (local.get $xh) (local.get $rowBytes)))))
        (local.set $rows (i32.sub (local.get $rows) (i32.const 1)))
        (br $row))))

  ;; LayerNorm backward: dx = rstd·(dŷ − mean(dŷ) − x̂·mean(dŷ ⊙ x̂)), dŷ = dy ⊙ g. When $dg ≠ 0 also the
  ;; parameter gradients dg = Σ_rows dy ⊙ x̂ and db = Σ_rows dy (both zeroed first).
  (func (export "layerNormGrad")
    (param $dy i32) (param $g i32) (param $xh i32) (param $rs i32) (param $dx i32) (param $dg i32) (param $db i32)
    (param $rows i32) (param $d i32)
    (local $rowBytes i32) (local $j i32) (local $inv f32) (local $s1 v128) (local $s2 v128) (local $dyv v128)
    (local $xhv v128) (local $dxh v128) (local $m1 v128) (local $m2 v128) (local $rstdv v128)
    (local.set $rowBytes (i32.shl (local.get $d) (i32.const 2)))
    (local.set $inv (f32.div (f32.const 1) (f32.convert_i32_u (local.get $d))))
    (if (local.get $dg) (then
      (local.set $j (i32.const 0))
      (loop $zero
        (v128.store (i32.add (local.get $dg) (local.get $j)) (v128.const f32x4 0 0 0 0))
        (v128.store (i32.add (local.get $db) (local.get $j)) (v128.const f32x4 0 0 0 0))
        (local.set $j (i32.add (local.get $j) (i32.const 16)))
        (br_if $zero (i32.lt_u (local.get $j) (local.get $rowBytes))))))
    (block $rowsDone
      (loop $row
        (br_if $rowsDone (i32.eqz (local.get $rows)))
        (local.set $s1 (v128.const f32x4 0 0 0 0))
        (local.set $s2 (v128.const f32x4 0 0 0 0))
        (local.set $j (i32.const 0))
        (loop $sums
          (local.set $dyv (v128.load (i32.add (local.get $dy) (local.get $j))))
          (local.set $xhv (v128.load (i32.add (local.get $xh) (local.get $j))))
          (local.set $dxh (f32x4.mul (local.get $dyv) (v128.load (i32.add (local.get $g) (local.get $j)))))
          (local.set $s1 (f32x4.add (local.get $s1) (local.get $dxh)))
          (local.set $s2 (f32x4.add (local.get $s2) (f32x4.mul (local.get $dxh) (local.get $xhv))))
          (if (local.get $dg) (then
            (v128.store (i32.add (local.get $dg) (local.get $j))
              (f32x4.add (v128.load (i32.add (local.get $dg) (local.get $j))) (f32x4.mul (local.get $dyv) (local.get $xhv))))
            (v128.store (i32.add (local.get $db) (local.get $j))
              (f32x4.add (v128.load (i32.add (local.get $db) (local.get $j))) (local.get $dyv)))))
          (local.set $j (i32.add (local.get $j) (i32.const 16)))
          (br_if $sums (i32.lt_u (local.get $j) (local.get $rowBytes))))
        (local.set $m1 (f32x4.splat (f32.mul (call $hsum (local.get $s1)) (local.get $inv))))
        (local.set $m2 (f32x4.splat (f32.mul (call $hsum (local.get $s2)) (local.get $inv))))
        (local.set $rstdv (f32x4.splat (f32.load (local.get $rs))))
        (local.set $j (i32.const 0))
        (loop $out
          (local.set $dxh (f32x4.mul (v128.load (i32.add (local.get $dy) (local.get $j)))
            (v128.load (i32.add (local.get $g) (local.get $j)))))
          (v128.store (i32.add (local.get $dx) (local.get $j))
            (f32x4.mul
              (f32x4.sub (f32x4.sub (local.get $dxh) (local.get $m1))
                (f32x4.mul (v128.load (i32.add (local.get $xh) (local.get $j))) (local.get $m2)))
              (local.get $rstdv)))
          (local.set $j (i32.add (local.get $j) (i32.const 16)))
          (br_if $out (i32.lt_u (local.get $j) (local.get $rowBytes))))
        (local.set $dy (i32.add (local.get $dy) (local.get $rowBytes)))
        (local.set $xh (i32.add (local.get $xh) (local.get $rowBytes)))
        (local.set $dx (i32.add (local.get $dx) (local.get $rowBytes)))
        (local.set $rs (i32.add (local.get $rs) (i32.const 4)))
        (local.set $rows (i32.sub (local.get $rows) (i32.const 1)))
        (br $row))))

  ;; out = xᵀ: x [rows, cols] row-major, cols % 4 == 0, out [cols, rows]; with $ones ≠ 0 a row of ones
  ;; follows ([cols + 1, rows]). 4×4 blocks are transposed in registers with shuffles. Columns go in tiles of
  ;; 16, rows top to bottom within a tile, so the writes are 16 sequential streams: sweeping all columns per
  ;; row block instead writes to `cols` lines a whole output row (often 4 KB) apart, which share cache sets.
  (func (export "transpose") (param $x i32) (param $out i32) (param $rows i32) (param $cols i32) (param $ones i32)
    (local $r i32) (local $c i32) (local $c0 i32) (local $c1 i32) (local $rb i32) (local $ob i32) (local $src i32)
    (local $dst i32) (local $a v128) (local $b v128) (local $e v128) (local $f v128) (local $t0 v128)
    (local $t1 v128) (local $t2 v128) (local $t3 v128)
    (local.set $rb (i32.shl (local.get $cols) (i32.const 2)))
    (local.set $ob (i32.shl (local.get $rows) (i32.const 2)))
    (local.set $c0 (i32.const 0))
    (loop $tile
      (local.set $c1 (i32.add (local.get $c0) (i32.const 16)))
      (if (i32.gt_u (local.get $c1) (local.get $cols)) (then (local.set $c1 (local.get $cols))))
      (local.set $r (i32.const 0))
      (block $blocksDone
        (loop $rowBlock
          (br_if $blocksDone (i32.gt_u (i32.add (local.get $r) (i32.const 4)) (local.get $rows)))
          (local.set $c (local.get $c0))
          (loop $colBlock
            (local.set $src (i32.add (i32.add (local.get $x) (i32.mul (local.get $r) (local.get $rb)))
              (i32.shl (local.get $c) (i32.const 2))))
            (local.set $a (v128.load (local.get $src)))
            (local.set $b (v128.load (i32.add (local.get $src) (local.get $rb))))
            (local.set $e (v128.load (i32.add (local.get $src) (i32.shl (local.get $rb) (i32.const 1)))))
            (local.set $f (v128.load (i32.add (local.get $src) (i32.mul (local.get $rb) (i32.const 3)))))
            ;; t0 = [a0 b0 a1 b1], t1 = [a2 b2 a3 b3], t2 = [e0 f0 e1 f1], t3 = [e2 f2 e3 f3]
            (local.set $t0 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $a) (local.get $b)))
            (local.set $t1 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $a) (local.get $b)))
            (local.set $t2 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $e) (local.get $f)))
            (local.set $t3 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $e) (local.get $f)))
            (local.set $dst (i32.add (i32.add (local.get $out) (i32.mul (local.get $c) (local.get $ob)))
              (i32.shl (local.get $r) (i32.const 2))))
            (v128.store (local.get $dst)
              (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t0) (local.get $t2)))
            (v128.store (i32.add (local.get $dst) (local.get $ob))
              (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t0) (local.get $t2)))
            (v128.store (i32.add (local.get $dst) (i32.shl (local.get $ob) (i32.const 1)))
              (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t1) (local.get $t3)))
            (v128.store (i32.add (local.get $dst) (i32.mul (local.get $ob) (i32.const 3)))
              (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t1) (local.get $t3)))
            (local.set $c (i32.add (local.get $c) (i32.const 4)))
            (br_if $colBlock (i32.lt_u (local.get $c) (local.get $c1))))
          (local.set $r (i32.add (local.get $r) (i32.const 4)))
          (br $rowBlock)))
      (local.set $c0 (local.get $c1))
      (br_if $tile (i32.lt_u (local.get $c0) (local.get $cols))))
    ;; The last rows % 4 rows, one element at a time.
    (block $tailDone
      (loop $tailRow
        (br_if $tailDone (i32.ge_u (local.get $r) (local.get $rows)))
        (local.set $c (i32.const 0))
        (loop $tailCol
          (f32.store
            (i32.add (i32.add (local.get $out) (i32.mul (local.get $c) (local.get $ob))) (i32.shl (local.get $r) (i32.const 2)))
            (f32.load (i32.add (i32.add (local.get $x) (i32.mul (local.get $r) (local.get $rb))) (i32.shl (local.get $c) (i32.const 2)))))
          (local.set $c (i32.add (local.get $c) (i32.const 1)))
          (br_if $tailCol (i32.lt_u (local.get $c) (local.get $cols))))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $tailRow)))
    (if (local.get $ones) (then
      (local.set $dst (i32.add (local.get $out) (i32.mul (local.get $cols) (local.get $ob))))
      (local.set $r (i32.const 0))
      (block $onesDone
        (loop $one
          (br_if $onesDone (i32.ge_u (local.get $r) (local.get $rows)))
          (f32.store (i32.add (local.get $dst) (i32.shl (local.get $r) (i32.const 2))) (f32.const 1))
          (local.set $r (i32.add (local.get $r) (i32.const 1)))
          (br $one))))))

  ;; [x0; x1] → [x1; x0] for n floats (n even): the other position's rows.
  (func (export "swapHalves") (param $x i32) (param $out i32) (param $n i32)
    (local $half i32)
    (local.set $half (i32.shl (local.get $n) (i32.const 1)))
    (memory.copy (local.get $out) (i32.add (local.get $x) (local.get $half)) (local.get $half))
    (memory.copy (i32.add (local.get $out) (local.get $half)) (local.get $x) (local.get $half)))

  ;; Copies x [rows, cols] into columns [offset, offset + cols) of out [rows, outCols]: one input of a
  ;; column concat (tfjs' wasm Concat copies row by row in JavaScript).
  (func (export "copyColumns")
    (param $x i32) (param $out i32) (param $rows i32) (param $cols i32) (param $outCols i32) (param $offset i32)
    (local $rb i32) (local $ob i32)
    (local.set $rb (i32.shl (local.get $cols) (i32.const 2)))
    (local.set $ob (i32.shl (local.get $outCols) (i32.const 2)))
    (local.set $out (i32.add (local.get $out) (i32.shl (local.get $offset) (i32.const 2))))
    (block $done
      (loop $row
        (br_if $done (i32.eqz (local.get $rows)))
        (memory.copy (local.get $out) (local.get $x) (local.get $rb))
        (local.set $x (i32.add (local.get $x) (local.get $rb)))
        (local.set $out (i32.add (local.get $out) (local.get $ob)))
        (local.set $rows (i32.sub (local.get $rows) (i32.const 1)))
        (br $row))))

  ;; out[i] = columns [offset, offset + w) of table row rows[i] (int32), for i < n; table [*, cols], out [n, w]:
  ;; one part of a row gather (tfjs' wasm Gather is slow).
  (func (export "gatherRows")
    (param $table i32) (param $rows i32) (param $out i32) (param $n i32) (param $cols i32) (param $offset i32)
    (param $w i32)
    (local $wb i32) (local $rb i32)
    (local.set $wb (i32.shl (local.get $w) (i32.const 2)))
    (local.set $rb (i32.shl (local.get $cols) (i32.const 2)))
    (local.set $table (i32.add (local.get $table) (i32.shl (local.get $offset) (i32.const 2))))
    (block $done
      (loop $row
        (br_if $done (i32.eqz (local.get $n)))
        (memory.copy (local.get $out)
          (i32.add (local.get $table) (i32.mul (i32.load (local.get $rows)) (local.get $rb)))
          (local.get $wb))
        (local.set $rows (i32.add (local.get $rows) (i32.const 4)))
        (local.set $out (i32.add (local.get $out) (local.get $wb)))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $row))))

  ;; out[rows[i]] += x[i] for i = 0..n−1 over rows of width cols (out: nRows × cols, zeroed first), in the order
  ;; of i, as the JavaScript loop it replaces: float32 adds, so the sums are bitwise the same.
  (func (export "scatterAddRows")
    (param $x i32) (param $rows i32) (param $out i32) (param $n i32) (param $cols i32) (param $nRows i32)
    (local $rb i32) (local $dst i32) (local $end i32)
    (local.set $rb (i32.shl (local.get $cols) (i32.const 2)))
    (memory.fill (local.get $out) (i32.const 0) (i32.mul (local.get $nRows) (local.get $rb)))
    (block $done
      (loop $row
        (br_if $done (i32.eqz (local.get $n)))
        (local.set $dst (i32.add (local.get $out) (i32.mul (i32.load (local.get $rows)) (local.get $rb))))
        (local.set $end (i32.add (local.get $dst) (local.get $rb)))
        (block $rowDone
          (loop $col
            (br_if $rowDone (i32.ge_u (local.get $dst) (local.get $end)))
            (v128.store (local.get $dst) (f32x4.add (v128.load (local.get $dst)) (v128.load (local.get $x))))
            (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
            (local.set $x (i32.add (local.get $x) (i32.const 16)))
            (br $col)))
        (local.set $rows (i32.add (local.get $rows) (i32.const 4)))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $row))))
)
