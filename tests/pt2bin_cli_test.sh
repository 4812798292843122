#!/bin/sh
# SPDX-License-Identifier: MIT
# CLI contract of pt2bin on good and bad files: exit codes, exactly one stderr line per error, and
# no output (or temp) file left behind on failure.
#   tests/pt2bin_cli_test.sh PT2BIN_BINARY tests/data/pt
set -u
BIN=$1
DATA=$2
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail=0

# expect CODE DESCRIPTION ARGS...: runs pt2bin, checks the exit code and, for errors, one stderr line.
expect() {
  want=$1; what=$2; shift 2
  # cross builds: $YV9_TEST_EMULATOR (e.g. qemu-aarch64 -L SYSROOT) runs the target's binary
  ${YV9_TEST_EMULATOR:-} "$BIN" "$@" > "$TMP/stdout" 2> "$TMP/stderr"
  got=$?
  lines=$(wc -l < "$TMP/stderr")
  if [ "$got" -ne "$want" ]; then
    echo "FAIL $what: exit $got, want $want"; cat "$TMP/stderr"; fail=1
  elif [ "$want" -ne 0 ] && [ "$lines" -ne 1 ]; then
    echo "FAIL $what: $lines stderr lines, want 1"; cat "$TMP/stderr"; fail=1
  else
    echo "ok   $what: exit $got $(head -c 160 "$TMP/stderr")"
  fi
}
no_output() {
  if ls "$TMP"/out.bin* > /dev/null 2>&1; then echo "FAIL $1: output or temp file left behind"; ls "$TMP"; fail=1; fi
}

expect 0 "convert an upstream-shaped checkpoint (fp16 EMA, pickled yaml)" "$DATA/gelan-s-tiny.pt" "$TMP/good.bin"
[ -s "$TMP/good.bin" ] || { echo "FAIL no output written"; fail=1; }
expect 0 "the same with its own yaml given" "$DATA/gelan-s-tiny.pt" "$TMP/own.bin" --config "$DATA/gelan-s-tiny.yaml"
expect 0 "--dtype f16" "$DATA/gelan-s-tiny.pt" "$TMP/f16.bin" --dtype f16
expect 0 "--dtype bf16" "$DATA/gelan-s-tiny.pt" "$TMP/bf16.bin" --dtype bf16
${YV9_TEST_EMULATOR:-} "$BIN" --list "$DATA/gelan-s-tiny.pt" > "$TMP/list.txt" 2>&1
grep -q "^model.0.conv.weight	F16	\[8,3,3,3\]$" "$TMP/list.txt" || { echo "FAIL --list does not show the F16 dtype"; fail=1; }

# Weights that do not fit the config are refused at conversion, with the loader's listing, and
# nothing is written: the mistakes a user makes with a gelan-s checkpoint (tiny stand-ins here).
sed 's/^nc: 2 /nc: 3 /' "$DATA/gelan-s-tiny.yaml" > "$TMP/nc3.yaml"
sed 's/^width_multiple: 1.0 /width_multiple: 0.75 /' "$DATA/gelan-s-tiny.yaml" > "$TMP/w075.yaml"
sed '/^head:/,$!s/, RepNCSPELAN4,/, MMQARepNCSPELAN4,/' "$DATA/gelan-s-tiny.yaml" > "$TMP/mmqa.yaml"
grep -q "^nc: 3 " "$TMP/nc3.yaml" && grep -q "^width_multiple: 0.75 " "$TMP/w075.yaml" &&
  [ "$(grep -c MMQARepNCSPELAN4 "$TMP/mmqa.yaml")" -eq 3 ] || { echo "FAIL making the mismatched configs"; fail=1; }
for c in "$DATA/gelan-t-tiny.yaml" "$TMP/nc3.yaml" "$TMP/w075.yaml" "$TMP/mmqa.yaml"; do
  expect 1 "refuse --config $(basename "$c")" "$DATA/gelan-s-tiny.pt" "$TMP/out.bin" --config "$c"; no_output "$c"
  grep -q "weights do not match the model: " "$TMP/stderr" || { echo "FAIL $c: not the loader's listing"; fail=1; }
done
expect 1 "refuse a pickled config the engine cannot build" "$DATA/train_ckpt.pt" "$TMP/out.bin"; no_output train_ckpt
expect 1 "refuse a value beyond F16" "$DATA/sd_beyond_f16.pt" "$TMP/out.bin" --no-config --dtype f16; no_output beyond
grep -q 'tensor "model.0.conv.weight" element 1 = -70000 is beyond the F16 range' "$TMP/stderr" || { echo "FAIL beyond-F16 message"; fail=1; }
expect 0 "the same value as BF16" "$DATA/sd_beyond_f16.pt" "$TMP/big.bin" --no-config --dtype bf16
expect 2 "unknown --dtype" "$DATA/gelan-s-tiny.pt" "$TMP/out.bin" --dtype f8; no_output dtype
expect 0 "list" --list "$DATA/module.pt"
expect 0 "bare state dict with --no-config" "$DATA/sd_dtypes.pt" "$TMP/sd.bin" --no-config

head -c 20000 "$DATA/train_ckpt.pt" > "$TMP/truncated.pt"
expect 1 "truncated file" "$TMP/truncated.pt" "$TMP/out.bin"; no_output truncated
cp "$DATA/train_ckpt.pt" "$TMP/corrupt.pt"
printf '\377\377\377\377\377\377\377\377' | dd of="$TMP/corrupt.pt" bs=1 seek=200 conv=notrunc 2> /dev/null
expect 1 "corrupted pickle bytes" "$TMP/corrupt.pt" "$TMP/out.bin"; no_output corrupt
expect 1 "legacy format" "$DATA/legacy.pt" "$TMP/out.bin"; no_output legacy
expect 1 "TorchScript" "$DATA/torchscript.pt" "$TMP/out.bin"; no_output torchscript
printf 'version https://git-lfs.github.com/spec/v1\noid sha256:00\nsize 1\n' > "$TMP/lfs.pt"
expect 1 "git-lfs pointer" "$TMP/lfs.pt" "$TMP/out.bin"; no_output lfs
printf '<html><body>Not Found</body></html>\n' > "$TMP/page.pt"
expect 1 "HTML page" "$TMP/page.pt" "$TMP/out.bin"; no_output html
expect 1 "missing input" "$TMP/nonexistent.pt" "$TMP/out.bin"; no_output missing
expect 1 "unwritable output" "$DATA/gelan-s-tiny.pt" "$TMP/no/such/dir/out.bin"

expect 2 "bare state dict without --config" "$DATA/sd_dtypes.pt" "$TMP/out.bin"; no_output noconfig
expect 2 "no arguments"
expect 2 "unknown option" --frobnicate "$DATA/module.pt" "$TMP/out.bin"
expect 2 "--config without a value" "$DATA/module.pt" "$TMP/out.bin" --config
exit $fail
