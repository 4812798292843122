#!/usr/bin/env node
// SPDX-License-Identifier: MIT
// One ONNX Runtime benchmark process (onnxruntime-node, CPU execution provider).
//
//   node run_ort.js --onnx M.onnx --input IN.npy [--runs N] [--warmup W] [--threads T] [--spin 0|1] [--out OUT.npy]
//
// Session: intraOpNumThreads=T, interOpNumThreads=1, sequential execution, graphOptimizationLevel 'all'
// (ORT's defaults otherwise: CPU memory arena and memory pattern on). Times each session.run() alone.
// Prints one JSON line: {"engine":"ort","times_ms":[...],"base_rss_mb":x,"load_s":y} or {..., "error":"..."}.
// base_rss_mb = VmRSS after loading node and the onnxruntime binding, before creating the session.
'use strict';
const fs = require('fs');

function vm(field) {
  const m = fs.readFileSync('/proc/self/status', 'utf8').match(new RegExp('^' + field + ':\\s+(\\d+)', 'm'));
  return m ? Number(m[1]) / 1024 : 0;
}

function parseArgs(argv) {
  const a = { runs: 1, warmup: 1, threads: 2, spin: 1 };
  for (let i = 2; i < argv.length; i += 2) {
    const k = argv[i].replace(/^--/, '');
    if (i + 1 >= argv.length) throw new Error(`option --${k} needs a value`);
    a[k] = ['runs', 'warmup', 'threads', 'spin'].includes(k) ? Number(argv[i + 1]) : argv[i + 1];
  }
  if (!a.onnx || !a.input) throw new Error('usage: run_ort.js --onnx M.onnx --input IN.npy [--runs N] [--warmup W] [--threads T] [--spin 0|1] [--out OUT.npy]');
  return a;
}

// Minimal .npy (v1/v2, little-endian float32, C order) reader and writer.
function readNpy(path) {
  const buf = fs.readFileSync(path);
  if (buf.toString('latin1', 0, 6) !== '\x93NUMPY') throw new Error(`${path}: not a .npy file`);
  const major = buf[6];
  const hlen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const hstart = major === 1 ? 10 : 12;
  const header = buf.toString('latin1', hstart, hstart + hlen);
  if (!/'descr':\s*'<f4'/.test(header) || /'fortran_order':\s*True/.test(header)) throw new Error(`${path}: need little-endian float32, C order`);
  const shape = header.match(/'shape':\s*\(([^)]*)\)/)[1].split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  const off = hstart + hlen;
  const data = new Float32Array(buf.buffer.slice(buf.byteOffset + off, buf.byteOffset + buf.length));
  return { data, shape };
}

function writeNpy(path, data, shape) {
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  const pad = 64 - ((10 + header.length + 1) % 64);
  header += ' '.repeat(pad % 64) + '\n';
  const pre = Buffer.alloc(10);
  pre.write('\x93NUMPY', 0, 'latin1');
  pre[6] = 1;
  pre[7] = 0;
  pre.writeUInt16LE(header.length, 8);
  const body = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  fs.writeFileSync(path, Buffer.concat([pre, Buffer.from(header, 'latin1'), body]));
}

async function main() {
  const a = parseArgs(process.argv);
  const ort = require('onnxruntime-node');
  const res = { engine: 'ort', ort: ort.env.versions.node, threads: a.threads };
  res.base_rss_mb = Math.round(vm('VmRSS') * 10) / 10;
  try {
    const t0 = process.hrtime.bigint();
    const session = await ort.InferenceSession.create(a.onnx, {
      executionProviders: ['cpu'],
      intraOpNumThreads: a.threads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
      // intra-op workers spin before sleeping unless --spin 0 (session.intra_op.allow_spinning)
      extra: { session: { intra_op: { allow_spinning: String(a.spin ? 1 : 0) } } },
    });
    const inp = readNpy(a.input);
    const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', inp.data, inp.shape) };
    res.load_s = Number(process.hrtime.bigint() - t0) / 1e9;
    res.outputs = session.outputNames;
    const times = [];
    let out = null;
    for (let r = 0; r < a.warmup + a.runs; ++r) {
      const s = process.hrtime.bigint();
      out = await session.run(feeds);
      const ms = Number(process.hrtime.bigint() - s) / 1e6;
      if (r >= a.warmup) times.push(Math.round(ms * 1000) / 1000);
    }
    res.times_ms = times;
    if (a.out) {
      const y = out[session.outputNames[0]];
      writeNpy(a.out, y.data, y.dims);
    }
  } catch (e) {
    const msg = String(e && e.message ? e.message : e).split('\n')[0].slice(0, 300);
    res.oom = /alloc|memory/i.test(msg);
    res.error = (res.oom ? 'out of memory: ' : '') + msg;
  }
  res.vmhwm_mb = Math.round(vm('VmHWM') * 10) / 10;
  process.stdout.write(JSON.stringify(res) + '\n');
}

main().catch((e) => {
  process.stdout.write(JSON.stringify({ engine: 'ort', error: String(e && e.message ? e.message : e) }) + '\n');
  process.exit(1);
});
