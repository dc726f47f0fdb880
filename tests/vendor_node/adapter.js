#!/usr/bin/env node
// A vendor adapter written with Node's gRPC implementation, to show that the ingest contract is
// language-neutral: it loads only the .proto files of proto/ (no generated code, no Python), streams
// frames to IngestService.StreamFrames in chunks and prints one JSON line with every ack.
//
//   node adapter.js --proto-dir ../../proto --target 127.0.0.1:50051 [--frames 2] [--chunk-bytes 4096]
//
// Frames alternate between a dual-energy X-ray image (raw little-endian uint16, shape [2, H, W], sent in
// several chunks with its SHA-256) and an RFID reader report (a serialized RfidReadBatch). The exit code
// is 0 when every frame was acknowledged OK, 1 otherwise, 2 on a usage error.
'use strict';

const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { parseArgs } = require('node:util');

const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const protobuf = require('protobufjs');

const OK = 0;
const XRAY_SHAPE = [2, 64, 96];

function usage(message) {
  process.stderr.write(`adapter.js: ${message}\n`);
  process.exit(2);
}

function options() {
  const { values } = parseArgs({
    options: {
      'proto-dir': { type: 'string' },
      target: { type: 'string' },
      frames: { type: 'string', default: '2' },
      'chunk-bytes': { type: 'string', default: '4096' },
      'source-prefix': { type: 'string', default: 'node-adapter' },
      'deadline-s': { type: 'string', default: '30' },
    },
  });
  if (!values['proto-dir'] || !values.target) usage('--proto-dir and --target are required');
  const protoDir = path.resolve(values['proto-dir']);
  if (!fs.existsSync(path.join(protoDir, 'smartcustoms/v1/ingest.proto'))) {
    usage(`${protoDir} does not hold smartcustoms/v1/ingest.proto`);
  }
  return {
    protoDir,
    target: values.target,
    frames: Number.parseInt(values.frames, 10),
    chunkBytes: Number.parseInt(values['chunk-bytes'], 10),
    sourcePrefix: values['source-prefix'],
    deadlineS: Number.parseFloat(values['deadline-s']),
  };
}

// The IngestService client, from the .proto files alone.
function ingestClient(protoDir, target) {
  const definition = protoLoader.loadSync('smartcustoms/v1/ingest.proto', {
    includeDirs: [protoDir],
    keepCase: true,
    longs: String,
    enums: String,
    defaults: true,
  });
  const v1 = grpc.loadPackageDefinition(definition).smartcustoms.v1;
  return new v1.IngestService(target, grpc.credentials.createInsecure());
}

// protobufjs types for payloads that are messages themselves (RfidReadBatch), from the same files.
function payloadTypes(protoDir) {
  const root = new protobuf.Root();
  root.resolvePath = (origin, target) => {
    const local = path.join(protoDir, target);
    return fs.existsSync(local) ? local : target; // google/protobuf/*: bundled with protobufjs
  };
  root.loadSync('smartcustoms/v1/frame.proto', { keepCase: true });
  return { RfidReadBatch: root.lookupType('smartcustoms.v1.RfidReadBatch') };
}

function timestampNow() {
  const ms = Date.now();
  return { seconds: String(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1e6 };
}

function xrayFrame(index, source, sequence) {
  const [channels, height, width] = XRAY_SHAPE;
  const payload = Buffer.alloc(channels * height * width * 2);
  for (let i = 0; i < payload.length / 2; i += 1) {
    payload.writeUInt16LE((i * 37 + index * 101) % 65536, i * 2); // little-endian, as the contract says
  }
  const header = {
    frame_id: crypto.randomUUID(),
    source_id: source,
    modality: 'MODALITY_XRAY',
    capture_time: timestampNow(),
    sequence: String(sequence),
    shape: XRAY_SHAPE,
    dtype: 'DTYPE_UINT16',
    encoding: 'raw',
    metadata: { vendor: 'node-example', channels: 'high,low', energy_high_kev: '160', energy_low_kev: '80' },
  };
  return { header, payload };
}

function rfidFrame(index, source, sequence, types) {
  const now = timestampNow();
  const batch = types.RfidReadBatch.fromObject({
    reader_id: source,
    zone: 'evidence-store-a',
    reads: [1, 2, 3].map((antenna) => ({
      epc_hex: `30340242201d8840000000${String(index * 10 + antenna).padStart(2, '0')}`,
      antenna_id: antenna,
      rssi_dbm: -50 - antenna,
      first_seen: now,
      last_seen: now,
      seen_count: antenna,
    })),
  });
  const header = {
    frame_id: crypto.randomUUID(),
    source_id: source,
    modality: 'MODALITY_RFID',
    capture_time: now,
    sequence: String(sequence),
    dtype: 'DTYPE_UNSPECIFIED',
    encoding: 'protobuf',
    metadata: { vendor: 'node-example', reader_id: source },
  };
  return { header, payload: Buffer.from(types.RfidReadBatch.encode(batch).finish()) };
}

// Chunk 0 carries the header, the total size and the SHA-256; the last chunk has `last` set.
function* chunksOf({ header, payload }, chunkBytes) {
  const count = Math.max(1, Math.ceil(payload.length / chunkBytes));
  for (let index = 0; index < count; index += 1) {
    const chunk = {
      frame_id: header.frame_id,
      index,
      last: index === count - 1,
      data: payload.subarray(index * chunkBytes, (index + 1) * chunkBytes),
    };
    if (index === 0) {
      Object.assign(chunk, {
        header: { ...header, payload_bytes: String(payload.length) },
        total_bytes: String(payload.length),
        payload_sha256: crypto.createHash('sha256').update(payload).digest('hex'),
      });
    }
    yield chunk;
  }
}

function write(call, message) {
  return call.write(message) ? Promise.resolve() : new Promise((resolve) => call.once('drain', resolve));
}

// One stream: write every chunk (waiting for 'drain' when HTTP/2 flow control pushes back), half-close,
// collect the acks until the gateway ends the stream.
function stream(client, frames, chunkBytes, deadlineS) {
  return new Promise((resolve, reject) => {
    const acks = [];
    const call = client.StreamFrames({ deadline: Date.now() + deadlineS * 1000 });
    call.on('data', (ack) => acks.push(ack));
    call.on('error', reject);
    call.on('end', () => resolve(acks));
    (async () => {
      for (const frame of frames) {
        for (const chunk of chunksOf(frame, chunkBytes)) await write(call, chunk);
      }
      call.end();
    })().catch(reject);
  });
}

async function main() {
  const opts = options();
  const types = payloadTypes(opts.protoDir);
  const firstSequence = BigInt(Date.now()) * 1000n; // rises across runs, as a device's counter does
  const frames = [];
  for (let i = 0; i < opts.frames; i += 1) {
    const sequence = firstSequence + BigInt(i);
    frames.push(
      i % 2 === 0
        ? xrayFrame(i, `${opts.sourcePrefix}-xray`, sequence)
        : rfidFrame(i, `${opts.sourcePrefix}-rfid`, sequence, types),
    );
  }
  const client = ingestClient(opts.protoDir, opts.target);
  try {
    const acks = await stream(client, frames, opts.chunkBytes, opts.deadlineS);
    const sent = frames.map((f) => ({ frame_id: f.header.frame_id, modality: f.header.modality }));
    process.stdout.write(`${JSON.stringify({ sent, acks })}\n`);
    const okIds = new Set(acks.filter((a) => a.code === OK).map((a) => a.frame_id));
    process.exitCode = frames.every((f) => okIds.has(f.header.frame_id)) ? 0 : 1;
  } finally {
    client.close();
  }
}

main().catch((error) => {
  process.stderr.write(`adapter.js: ${error.stack || error}\n`);
  process.exitCode = 1;
});
