;; Float64-accumulating kernels over the float32 rows of a RowWindow (src/sed/rollingSvd.ts), bitwise the
;; JavaScript of src/util/linalg.ts they stand in for: the same float64 operations in the same order, each sum
;; in its own SIMD lane. Rows, vectors and results live in the window's own memory; pointers are byte offsets
;; into it. Rebuild the embedded bytes with `npm run build:kernels`.
(module
  (import "env" "memory" (memory 1))

  ;; out[t] = Σ_i r_t[i]·x[i], each row's sum in index order (linalg.dots), for the n rows whose byte offsets
  ;; are the i32s at `ptrs`. Two rows share a SIMD step (one per lane), four per pass over x.
  (func (export "dots") (param $ptrs i32) (param $n i32) (param $x i32) (param $len i32) (param $out i32)
    (local $t i32) (local $pt i32) (local $a i32) (local $b i32) (local $c i32) (local $d i32)
    (local $o i32) (local $end4 i32) (local $end i32)
    (local $acc0 v128) (local $acc1 v128) (local $vx v128) (local $va v128) (local $vb v128) (local $vc v128)
    (local $vd v128) (local $xj v128)
    (local.set $end4 (i32.shl (i32.and (local.get $len) (i32.const -4)) (i32.const 2)))
    (local.set $end (i32.shl (local.get $len) (i32.const 2)))
    (block $quadsDone
      (loop $quad
        (br_if $quadsDone (i32.gt_u (i32.add (local.get $t) (i32.const 4)) (local.get $n)))
        (local.set $pt (i32.add (local.get $ptrs) (i32.shl (local.get $t) (i32.const 2))))
        (local.set $a (i32.load offset=0 (local.get $pt)))
        (local.set $b (i32.load offset=4 (local.get $pt)))
        (local.set $c (i32.load offset=8 (local.get $pt)))
        (local.set $d (i32.load offset=12 (local.get $pt)))
        (local.set $acc0 (v128.const i64x2 0 0))
        (local.set $acc1 (v128.const i64x2 0 0))
        (local.set $o (i32.const 0))
        (block $d4 (loop $l4
          (br_if $d4 (i32.ge_u (local.get $o) (local.get $end4)))
          (local.set $vx (v128.load (i32.add (local.get $x) (local.get $o))))
          (local.set $va (v128.load (i32.add (local.get $a) (local.get $o))))
          (local.set $vb (v128.load (i32.add (local.get $b) (local.get $o))))
          (local.set $vc (v128.load (i32.add (local.get $c) (local.get $o))))
          (local.set $vd (v128.load (i32.add (local.get $d) (local.get $o))))
          (local.set $xj (f64x2.promote_low_f32x4 (i8x16.shuffle 0 1 2 3 0 1 2 3 0 1 2 3 0 1 2 3 (local.get $vx) (local.get $vx))))
          (local.set $acc0 (f64x2.add (local.get $acc0) (f64x2.mul (f64x2.promote_low_f32x4
            (i8x16.shuffle 0 1 2 3 16 17 18 19 0 1 2 3 16 17 18 19 (local.get $va) (local.get $vb))) (local.get $xj))))
          (local.set $acc1 (f64x2.add (local.get $acc1) (f64x2.mul (f64x2.promote_low_f32x4
            (i8x16.shuffle 0 1 2 3 16 17 18 19 0 1 2 3 16 17 18 19 (local.get $vc) (local.get $vd))) (local.get $xj))))
          (local.set $xj (f64x2.promote_low_f32x4 (i8x16.shuffle 4 5 6 7 4 5 6 7 4 5 6 7 4 5 6 7 (local.get $vx) (local.get $vx))))
          (local.set $acc0 (f64x2.add (local.get $acc0) (f64x2.mul (f64x2.promote_low_f32x4
            (i8x16.shuffle 4 5 6 7 20 21 22 23 4 5 6 7 20 21 22 23 (local.get $va) (local.get $vb))) (local.get $xj))))
          (local.set $acc1 (f64x2.add (local.get $acc1) (f64x2.mul (f64x2.promote_low_f32x4
            (i8x16.shuffle 4 5 6 7 20 21 22 23 4 5 6 7 20 21 22 23 (local.get $vc) (local.get $vd))) (local.get $xj))))
          (local.set $xj (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 8 9 10 11 8 9 10 11 8 9 10 11 (local.get $vx) (local.get $vx))))
          (local.set $acc0 (f64x2.add (local.get $acc0) (f64x2.mul (f64x2.promote_low_f32x4
            (i8x16.shuffle 8 9 10 11 24 25 26 27 8 9 10 11 24 25 26 27 (local.get $va) (local.get $vb))) (local.get $xj))))
          (local.set $acc1 (f64x2.add (local.get $acc1) (f64x2.mul (f64x2.promote_low_f32x4
            (i8x16.shuffle 8 9 10 11 24 25 26 27 8 9 10 11 24 25 26 27 (local.get $vc) (local.get $vd))) (local.get $xj))))
          (local.set $xj (f64x2.promote_low_f32x4 (i8x16.shuffle 12 13 14 15 12 13 14 15 12 13 14 15 12 13 14 15 (local.get $vx) (local.get $vx))))
          (local.set $acc0 (f64x2.add (local.get $acc0) (f64x2.mul (f64x2.promote_low_f32x4
            (i8x16.shuffle 12 13 14 15 28 29 30 31 12 13 14 15 28 29 30 31 (local.get $va) (local.get $vb))) (local.get $xj))))
          (local.set $acc1 (f64x2.add (local.get $acc1) (f64x2.mul (f64x2.promote_low_f32x4
            (i8x16.shuffle 12 13 14 15 28 29 30 31 12 13 14 15 28 29 30 31 (local.get $vc) (local.get $vd))) (local.get $xj))))
          (local.set $o (i32.add (local.get $o) (i32.const 16)))
          (br $l4)))
        (block $d1 (loop $l1
          (br_if $d1 (i32.ge_u (local.get $o) (local.get $end)))
          (local.set $xj (f64x2.splat (f64.promote_f32 (f32.load (i32.add (local.get $x) (local.get $o))))))
          (local.set $acc0 (f64x2.add (local.get $acc0) (f64x2.mul (f64x2.replace_lane 1 (f64x2.splat (f64.promote_f32 (f32.load (i32.add (local.get $a) (local.get $o)))))
              (f64.promote_f32 (f32.load (i32.add (local.get $b) (local.get $o))))) (local.get $xj))))
          (local.set $acc1 (f64x2.add (local.get $acc1) (f64x2.mul (f64x2.replace_lane 1 (f64x2.splat (f64.promote_f32 (f32.load (i32.add (local.get $c) (local.get $o)))))
              (f64.promote_f32 (f32.load (i32.add (local.get $d) (local.get $o))))) (local.get $xj))))
          (local.set $o (i32.add (local.get $o) (i32.const 4)))
          (br $l1)))
        (v128.store (i32.add (local.get $out) (i32.shl (local.get $t) (i32.const 3))) (local.get $acc0))
        (v128.store offset=16 (i32.add (local.get $out) (i32.shl (local.get $t) (i32.const 3))) (local.get $acc1))
        (local.set $t (i32.add (local.get $t) (i32.const 4)))
        (br $quad)))
    ;; the last one to three rows, two at a time (a lone row shares its step with itself)
    (block $pairsDone
      (loop $pair
        (br_if $pairsDone (i32.ge_u (local.get $t) (local.get $n)))
        (local.set $pt (i32.add (local.get $ptrs) (i32.shl (local.get $t) (i32.const 2))))
        (local.set $a (i32.load offset=0 (local.get $pt)))
        (local.set $b (select (local.get $a) (i32.load offset=4 (local.get $pt))
          (i32.eq (i32.add (local.get $t) (i32.const 1)) (local.get $n))))
        (local.set $acc0 (v128.const i64x2 0 0))
        (local.set $o (i32.const 0))
        (block $d4 (loop $l4
          (br_if $d4 (i32.ge_u (local.get $o) (local.get $end4)))
          (local.set $vx (v128.load (i32.add (local.get $x) (local.get $o))))
          (local.set $va (v128.load (i32.add (local.get $a) (local.get $o))))
          (local.set $vb (v128.load (i32.add (local.get $b) (local.get $o))))
          (local.set $acc0 (f64x2.add (local.get $acc0) (f64x2.mul (f64x2.promote_low_f32x4
            (i8x16.shuffle 0 1 2 3 16 17 18 19 0 1 2 3 16 17 18 19 (local.get $va) (local.get $vb)))
            (f64x2.promote_low_f32x4 (i8x16.shuffle 0 1 2 3 0 1 2 3 0 1 2 3 0 1 2 3 (local.get $vx) (local.get $vx))))))
          (local.set $acc0 (f64x2.add (local.get $acc0) (f64x2.mul (f64x2.promote_low_f32x4
            (i8x16.shuffle 4 5 6 7 20 21 22 23 4 5 6 7 20 21 22 23 (local.get $va) (local.get $vb)))
            (f64x2.promote_low_f32x4 (i8x16.shuffle 4 5 6 7 4 5 6 7 4 5 6 7 4 5 6 7 (local.get $vx) (local.get $vx))))))
          (local.set $acc0 (f64x2.add (local.get $acc0) (f64x2.mul (f64x2.promote_low_f32x4
            (i8x16.shuffle 8 9 10 11 24 25 26 27 8 9 10 11 24 25 26 27 (local.get $va) (local.get $vb)))
            (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 8 9 10 11 8 9 10 11 8 9 10 11 (local.get $vx) (local.get $vx))))))
          (local.set $acc0 (f64x2.add (local.get $acc0) (f64x2.mul (f64x2.promote_low_f32x4
            (i8x16.shuffle 12 13 14 15 28 29 30 31 12 13 14 15 28 29 30 31 (local.get $va) (local.get $vb)))
            (f64x2.promote_low_f32x4 (i8x16.shuffle 12 13 14 15 12 13 14 15 12 13 14 15 12 13 14 15 (local.get $vx) (local.get $vx))))))
          (local.set $o (i32.add (local.get $o) (i32.const 16)))
          (br $l4)))
        (block $d1 (loop $l1
          (br_if $d1 (i32.ge_u (local.get $o) (local.get $end)))
          (local.set $acc0 (f64x2.add (local.get $acc0) (f64x2.mul (f64x2.replace_lane 1 (f64x2.splat (f64.promote_f32 (f32.load (i32.add (local.get $a) (local.get $o)))))
              (f64.promote_f32 (f32.load (i32.add (local.get $b) (local.get $o)))))
            (f64x2.splat (f64.promote_f32 (f32.load (i32.add (local.get $x) (local.get $o))))))))
          (local.set $o (i32.add (local.get $o) (i32.const 4)))
          (br $l1)))
        (f64.store (i32.add (local.get $out) (i32.shl (local.get $t) (i32.const 3))) (f64x2.extract_lane 0 (local.get $acc0)))
        (if (i32.lt_u (i32.add (local.get $t) (i32.const 1)) (local.get $n))
          (then (f64.store offset=8 (i32.add (local.get $out) (i32.shl (local.get $t) (i32.const 3)))
            (f64x2.extract_lane 1 (local.get $acc0)))))
        (local.set $t (i32.add (local.get $t) (i32.const 2)))
        (br $pair))))

  ;; out[t] = dot(x, r_t) as linalg.dot sums it: four partial sums s_q over i ≡ q (mod 4), the tail added to s0,
  ;; then (s0 + s1) + (s2 + s3). Lanes hold (s0, s1) and (s2, s3); two rows per pass over x.
  (func (export "dot4") (param $ptrs i32) (param $n i32) (param $x i32) (param $len i32) (param $out i32)
    (local $t i32) (local $pt i32) (local $a i32) (local $b i32) (local $o i32) (local $end4 i32) (local $end i32)
    (local $a01 v128) (local $a23 v128) (local $b01 v128) (local $b23 v128) (local $vx v128) (local $xl v128)
    (local $xh v128) (local $va v128) (local $vb v128) (local $sa f64) (local $sb f64) (local $xi f64)
    (local.set $end4 (i32.shl (i32.and (local.get $len) (i32.const -4)) (i32.const 2)))
    (local.set $end (i32.shl (local.get $len) (i32.const 2)))
    (block $pairsDone
      (loop $pair
        (br_if $pairsDone (i32.ge_u (local.get $t) (local.get $n)))
        (local.set $pt (i32.add (local.get $ptrs) (i32.shl (local.get $t) (i32.const 2))))
        (local.set $a (i32.load offset=0 (local.get $pt)))
        (local.set $b (select (local.get $a) (i32.load offset=4 (local.get $pt))
          (i32.eq (i32.add (local.get $t) (i32.const 1)) (local.get $n))))
        (local.set $a01 (v128.const i64x2 0 0))
        (local.set $a23 (v128.const i64x2 0 0))
        (local.set $b01 (v128.const i64x2 0 0))
        (local.set $b23 (v128.const i64x2 0 0))
        (local.set $o (i32.const 0))
        (block $d4 (loop $l4
          (br_if $d4 (i32.ge_u (local.get $o) (local.get $end4)))
          (local.set $vx (v128.load (i32.add (local.get $x) (local.get $o))))
          (local.set $xl (f64x2.promote_low_f32x4 (local.get $vx)))
          (local.set $xh (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15
            (local.get $vx) (local.get $vx))))
          (local.set $va (v128.load (i32.add (local.get $a) (local.get $o))))
          (local.set $vb (v128.load (i32.add (local.get $b) (local.get $o))))
          (local.set $a01 (f64x2.add (local.get $a01) (f64x2.mul (local.get $xl) (f64x2.promote_low_f32x4 (local.get $va)))))
          (local.set $a23 (f64x2.add (local.get $a23) (f64x2.mul (local.get $xh) (f64x2.promote_low_f32x4
            (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $va) (local.get $va))))))
          (local.set $b01 (f64x2.add (local.get $b01) (f64x2.mul (local.get $xl) (f64x2.promote_low_f32x4 (local.get $vb)))))
          (local.set $b23 (f64x2.add (local.get $b23) (f64x2.mul (local.get $xh) (f64x2.promote_low_f32x4
            (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $vb) (local.get $vb))))))
          (local.set $o (i32.add (local.get $o) (i32.const 16)))
          (br $l4)))
        (local.set $sa (f64x2.extract_lane 0 (local.get $a01)))
        (local.set $sb (f64x2.extract_lane 0 (local.get $b01)))
        (block $d1 (loop $l1
          (br_if $d1 (i32.ge_u (local.get $o) (local.get $end)))
          (local.set $xi (f64.promote_f32 (f32.load (i32.add (local.get $x) (local.get $o)))))
          (local.set $sa (f64.add (local.get $sa)
            (f64.mul (local.get $xi) (f64.promote_f32 (f32.load (i32.add (local.get $a) (local.get $o)))))))
          (local.set $sb (f64.add (local.get $sb)
            (f64.mul (local.get $xi) (f64.promote_f32 (f32.load (i32.add (local.get $b) (local.get $o)))))))
          (local.set $o (i32.add (local.get $o) (i32.const 4)))
          (br $l1)))
        (f64.store (i32.add (local.get $out) (i32.shl (local.get $t) (i32.const 3)))
          (f64.add (f64.add (local.get $sa) (f64x2.extract_lane 1 (local.get $a01)))
            (f64.add (f64x2.extract_lane 0 (local.get $a23)) (f64x2.extract_lane 1 (local.get $a23)))))
        (if (i32.lt_u (i32.add (local.get $t) (i32.const 1)) (local.get $n))
          (then (f64.store offset=8 (i32.add (local.get $out) (i32.shl (local.get $t) (i32.const 3)))
            (f64.add (f64.add (local.get $sb) (f64x2.extract_lane 1 (local.get $b01)))
              (f64.add (f64x2.extract_lane 0 (local.get $b23)) (f64x2.extract_lane 1 (local.get $b23)))))))
        (local.set $t (i32.add (local.get $t) (i32.const 2)))
        (br $pair))))

  ;; linalg.combine then projectOnWindow's write: acc_i = Σ over the n rows (pointers at `ptrs`, float64
  ;; coefficients at `coefs`, none zero) grouped as combine groups them — each group of four added as
  ;; ((c₀r₀ + c₁r₁) + c₂r₂) + c₃r₃, the last n mod 4 one by one — then out_i = float32(remove ? g_i − acc_i : acc_i).
  ;; Returns Σ_i out_i² in index order. Elements go in blocks of 512 with their partial acc in `scratch`
  ;; (4096 bytes), two per SIMD step.
  (func (export "combine") (param $ptrs i32) (param $coefs i32) (param $n i32) (param $g i32) (param $out i32)
    (param $len i32) (param $remove i32) (param $scratch i32) (result f64)
    (local $blk i32) (local $bend i32) (local $t i32) (local $pt i32) (local $o i32) (local $q i32)
    (local $a i32) (local $b i32) (local $c i32) (local $d i32)
    (local $ca v128) (local $cb v128) (local $cc v128) (local $cd v128) (local $e v128) (local $v v128)
    (local $self f64) (local $xs f64) (local $acc f64) (local $groups i32)
    (local.set $groups (i32.and (local.get $n) (i32.const -4)))
    (block $blocksDone
      (loop $block
        (br_if $blocksDone (i32.ge_u (local.get $blk) (local.get $len)))
        (local.set $bend (i32.add (local.get $blk) (i32.const 512)))
        (if (i32.gt_u (local.get $bend) (local.get $len)) (then (local.set $bend (local.get $len))))
        ;; the block's pairs: acc = 0, then + each group, + each remaining row
        (local.set $q (i32.shl (i32.and (i32.sub (local.get $bend) (local.get $blk)) (i32.const -2)) (i32.const 3)))
        (local.set $o (i32.const 0))
        (block $z (loop $zl
          (br_if $z (i32.ge_u (local.get $o) (local.get $q)))
          (v128.store (i32.add (local.get $scratch) (local.get $o)) (v128.const i64x2 0 0))
          (local.set $o (i32.add (local.get $o) (i32.const 16)))
          (br $zl)))
        (local.set $t (i32.const 0))
        (block $gDone (loop $group
          (br_if $gDone (i32.ge_u (local.get $t) (local.get $groups)))
          (local.set $pt (i32.add (local.get $ptrs) (i32.shl (local.get $t) (i32.const 2))))
          (local.set $a (i32.add (i32.load offset=0 (local.get $pt)) (i32.shl (local.get $blk) (i32.const 2))))
          (local.set $b (i32.add (i32.load offset=4 (local.get $pt)) (i32.shl (local.get $blk) (i32.const 2))))
          (local.set $c (i32.add (i32.load offset=8 (local.get $pt)) (i32.shl (local.get $blk) (i32.const 2))))
          (local.set $d (i32.add (i32.load offset=12 (local.get $pt)) (i32.shl (local.get $blk) (i32.const 2))))
          (local.set $pt (i32.add (local.get $coefs) (i32.shl (local.get $t) (i32.const 3))))
          (local.set $ca (f64x2.splat (f64.load (local.get $pt))))
          (local.set $cb (f64x2.splat (f64.load offset=8 (local.get $pt))))
          (local.set $cc (f64x2.splat (f64.load offset=16 (local.get $pt))))
          (local.set $cd (f64x2.splat (f64.load offset=24 (local.get $pt))))
          (local.set $o (i32.const 0))
          (block $pDone (loop $p
            (br_if $pDone (i32.ge_u (local.get $o) (local.get $q)))
            (local.set $e (f64x2.add (f64x2.add (f64x2.add
              (f64x2.mul (local.get $ca) (f64x2.promote_low_f32x4 (v128.load64_zero (local.get $a))))
              (f64x2.mul (local.get $cb) (f64x2.promote_low_f32x4 (v128.load64_zero (local.get $b)))))
              (f64x2.mul (local.get $cc) (f64x2.promote_low_f32x4 (v128.load64_zero (local.get $c)))))
              (f64x2.mul (local.get $cd) (f64x2.promote_low_f32x4 (v128.load64_zero (local.get $d))))))
            (v128.store (i32.add (local.get $scratch) (local.get $o))
              (f64x2.add (v128.load (i32.add (local.get $scratch) (local.get $o))) (local.get $e)))
            (local.set $a (i32.add (local.get $a) (i32.const 8)))
            (local.set $b (i32.add (local.get $b) (i32.const 8)))
            (local.set $c (i32.add (local.get $c) (i32.const 8)))
            (local.set $d (i32.add (local.get $d) (i32.const 8)))
            (local.set $o (i32.add (local.get $o) (i32.const 16)))
            (br $p)))
          (local.set $t (i32.add (local.get $t) (i32.const 4)))
          (br $group)))
        (block $rDone (loop $rest
          (br_if $rDone (i32.ge_u (local.get $t) (local.get $n)))
          (local.set $pt (i32.add (local.get $ptrs) (i32.shl (local.get $t) (i32.const 2))))
          (local.set $a (i32.add (i32.load offset=0 (local.get $pt)) (i32.shl (local.get $blk) (i32.const 2))))
          (local.set $ca (f64x2.splat (f64.load (i32.add (local.get $coefs) (i32.shl (local.get $t) (i32.const 3))))))
          (local.set $o (i32.const 0))
          (block $pDone (loop $p
            (br_if $pDone (i32.ge_u (local.get $o) (local.get $q)))
            (v128.store (i32.add (local.get $scratch) (local.get $o))
              (f64x2.add (v128.load (i32.add (local.get $scratch) (local.get $o)))
                (f64x2.mul (local.get $ca) (f64x2.promote_low_f32x4 (v128.load64_zero (local.get $a))))))
            (local.set $a (i32.add (local.get $a) (i32.const 8)))
            (local.set $o (i32.add (local.get $o) (i32.const 16)))
            (br $p)))
          (local.set $t (i32.add (local.get $t) (i32.const 1)))
          (br $rest)))
        ;; write the block's pairs and add their squares in order
        (local.set $o (i32.const 0))
        (local.set $a (i32.shl (local.get $blk) (i32.const 2)))
        (block $wDone (loop $w
          (br_if $wDone (i32.ge_u (local.get $o) (local.get $q)))
          (local.set $v (v128.load (i32.add (local.get $scratch) (local.get $o))))
          (if (local.get $remove)
            (then (local.set $v (f64x2.sub (f64x2.promote_low_f32x4 (v128.load64_zero (i32.add (local.get $g) (local.get $a))))
              (local.get $v)))))
          (local.set $v (f32x4.demote_f64x2_zero (local.get $v)))
          (v128.store64_lane 0 (i32.add (local.get $out) (local.get $a)) (local.get $v))
          (local.set $v (f64x2.promote_low_f32x4 (local.get $v)))
          (local.set $v (f64x2.mul (local.get $v) (local.get $v)))
          (local.set $self (f64.add (f64.add (local.get $self) (f64x2.extract_lane 0 (local.get $v)))
            (f64x2.extract_lane 1 (local.get $v))))
          (local.set $a (i32.add (local.get $a) (i32.const 8)))
          (local.set $o (i32.add (local.get $o) (i32.const 16)))
          (br $w)))
        ;; an odd block length (only the last block): its final element, scalar
        (if (i32.and (i32.sub (local.get $bend) (local.get $blk)) (i32.const 1))
          (then
            (local.set $o (i32.shl (i32.sub (local.get $bend) (i32.const 1)) (i32.const 2)))
            (local.set $acc (f64.const 0))
            (local.set $t (i32.const 0))
            (block $gDone (loop $group
              (br_if $gDone (i32.ge_u (local.get $t) (local.get $groups)))
              (local.set $pt (i32.add (local.get $coefs) (i32.shl (local.get $t) (i32.const 3))))
              (local.set $q (i32.add (local.get $ptrs) (i32.shl (local.get $t) (i32.const 2))))
              (local.set $acc (f64.add (local.get $acc) (f64.add (f64.add (f64.add
                (f64.mul (f64.load (local.get $pt)) (f64.promote_f32 (f32.load (i32.add (i32.load (local.get $q)) (local.get $o)))))
                (f64.mul (f64.load offset=8 (local.get $pt))
                  (f64.promote_f32 (f32.load (i32.add (i32.load offset=4 (local.get $q)) (local.get $o))))))
                (f64.mul (f64.load offset=16 (local.get $pt))
                  (f64.promote_f32 (f32.load (i32.add (i32.load offset=8 (local.get $q)) (local.get $o))))))
                (f64.mul (f64.load offset=24 (local.get $pt))
                  (f64.promote_f32 (f32.load (i32.add (i32.load offset=12 (local.get $q)) (local.get $o))))))))
              (local.set $t (i32.add (local.get $t) (i32.const 4)))
              (br $group)))
            (block $rDone (loop $rest
              (br_if $rDone (i32.ge_u (local.get $t) (local.get $n)))
              (local.set $acc (f64.add (local.get $acc)
                (f64.mul (f64.load (i32.add (local.get $coefs) (i32.shl (local.get $t) (i32.const 3))))
                  (f64.promote_f32 (f32.load (i32.add (i32.load (i32.add (local.get $ptrs) (i32.shl (local.get $t) (i32.const 2))))
                    (local.get $o)))))))
              (local.set $t (i32.add (local.get $t) (i32.const 1)))
              (br $rest)))
            (if (local.get $remove)
              (then (local.set $acc (f64.sub (f64.promote_f32 (f32.load (i32.add (local.get $g) (local.get $o))))
                (local.get $acc)))))
            (f32.store (i32.add (local.get $out) (local.get $o)) (f32.demote_f64 (local.get $acc)))
            (local.set $xs (f64.promote_f32 (f32.load (i32.add (local.get $out) (local.get $o)))))
            (local.set $self (f64.add (local.get $self) (f64.mul (local.get $xs) (local.get $xs))))))
        (local.set $blk (local.get $bend))
        (br $block)))
    (local.get $self))
)
