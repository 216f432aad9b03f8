;; A sampling gate: should_send passes every entry at WARN (30) or above, and one in
;; four of the entries below WARN. Written in WAT, the WebAssembly text format; tests
;; compile it with wasmtime.wat2wasm, build.sh writes sampling_gate.wasm.
;;
;; The counter lives in the instance, so each instance of the plugin's pool samples on
;; its own (and a replaced instance starts again): one in four overall, not exactly
;; every fourth entry.
(module
  (memory (export "memory") 1)
  (global $seen (mut i32) (i32.const 0))
  (data (i32.const 0) "true")
  (data (i32.const 8) "false")
  (data (i32.const 16) "\"level\":")

  (func (export "loglayer_abi_version") (result i32) (i32.const 1))

  ;; The input document always goes at 1024: an instance serves one call at a time.
  ;; Memory grows to fit it; when the host's limit refuses, the host sees a pointer
  ;; past the end of memory and reports it.
  (func (export "alloc") (param $len i32) (result i32)
    (local $missing i32)
    (local.set $missing
      (i32.sub (i32.shr_u (i32.add (local.get $len) (i32.const 66559)) (i32.const 16))
               (memory.size)))
    (if (i32.gt_s (local.get $missing) (i32.const 0))
      (then (drop (memory.grow (local.get $missing)))))
    (i32.const 1024))

  ;; The number after the first "level": in the document (the top-level one: it is the
  ;; second key of every dispatch document), or 0.
  (func $level (param $ptr i32) (param $len i32) (result i32)
    (local $at i32) (local $end i32) (local $n i32) (local $digit i32)
    (local.set $end (i32.add (local.get $ptr) (local.get $len)))
    (local.set $at (local.get $ptr))
    (block $absent
      (loop $scan
        (br_if $absent (i32.gt_u (i32.add (local.get $at) (i32.const 8)) (local.get $end)))
        (if (i64.eq (i64.load (local.get $at)) (i64.load (i32.const 16)))
          (then
            (local.set $at (i32.add (local.get $at) (i32.const 8)))
            (block $done
              (loop $digits
                (br_if $done (i32.ge_u (local.get $at) (local.get $end)))
                (local.set $digit (i32.sub (i32.load8_u (local.get $at)) (i32.const 48)))
                (br_if $done (i32.gt_u (local.get $digit) (i32.const 9)))
                (local.set $n (i32.add (i32.mul (local.get $n) (i32.const 10))
                                       (local.get $digit)))
                (local.set $at (i32.add (local.get $at) (i32.const 1)))
                (br $digits)))
            (return (local.get $n))))
        (local.set $at (i32.add (local.get $at) (i32.const 1)))
        (br $scan)))
    (i32.const 0))

  ;; Results are packed as (pointer << 32) | length: "true" is (0, 4), "false" (8, 5).
  (func (export "should_send") (param $ptr i32) (param $len i32) (result i64)
    (if (i32.ge_u (call $level (local.get $ptr) (local.get $len)) (i32.const 30))
      (then (return (i64.const 4))))
    (global.set $seen (i32.add (global.get $seen) (i32.const 1)))
    (if (result i64) (i32.eqz (i32.rem_u (global.get $seen) (i32.const 4)))
      (then (i64.const 4))
      (else (i64.const 0x0000000800000005))))
)
