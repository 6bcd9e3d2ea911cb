// Validates OTLP JSON Lines (socktrace-dump --otlp) against the official
// OTLP protobuf definitions, as generated for @opentelemetry/otlp-transformer
// 0.52 (TracesData): each line is converted from the OTLP-JSON file format's
// two differences with protobuf's own JSON (ids in lowercase hex, 64-bit
// integers as decimal strings), then verified, built, encoded, decoded, and
// compared with what was read.  Usage: node otlp-check.js NODE_PREFIX < FILE
'use strict';
const path = require('path');
const prefix = path.resolve(process.argv[2]);
const gen = require(path.join(prefix, 'node_modules/@opentelemetry/otlp-transformer/build/src/generated/root.js'));
const Long = require(path.join(prefix, 'node_modules/long'));
const TracesData = gen.opentelemetry.proto.trace.v1.TracesData;

const ids = new Set(['traceId', 'spanId', 'parentSpanId']);
const longs = new Set(['startTimeUnixNano', 'endTimeUnixNano', 'intValue']);

function toProto(v, key) {
	if (Array.isArray(v)) return v.map((x) => toProto(x));
	if (v && typeof v === 'object') {
		const o = {};
		for (const k of Object.keys(v)) o[k] = toProto(v[k], k);
		return o;
	}
	if (ids.has(key)) {
		if (!/^[0-9a-f]+$/.test(v) || (key === 'traceId' ? v.length !== 32 : v.length !== 16))
			throw new Error(`${key} ${v} is not lowercase hex of the right length`);
		return Buffer.from(v, 'hex');
	}
	if (longs.has(key)) {
		if (typeof v !== 'string' || !/^-?[0-9]+$/.test(v))
			throw new Error(`${key} ${v} is not a decimal string`);
		return Long.fromString(v, key !== 'intValue');
	}
	return v;
}

const lines = require('fs').readFileSync(0, 'utf8').split('\n').filter((l) => l.length);
let spans = 0;
lines.forEach((line, i) => {
	const where = `line ${i + 1}`;
	const json = JSON.parse(line);
	const obj = toProto(json);
	const err = TracesData.verify(obj);
	if (err) throw new Error(`${where}: ${err}`);
	const msg = TracesData.fromObject(obj);
	const back = TracesData.toObject(TracesData.decode(TracesData.encode(msg).finish()),
					 { longs: String, bytes: String, defaults: false });
	for (const rs of json.resourceSpans) for (const ss of rs.scopeSpans) spans += ss.spans.length;
	// ids and times survive the round trip unchanged
	json.resourceSpans.forEach((rs, r) => rs.scopeSpans.forEach((ss, s) => ss.spans.forEach((sp, k) => {
		const got = back.resourceSpans[r].scopeSpans[s].spans[k];
		const hex = (b64) => Buffer.from(b64, 'base64').toString('hex');
		if (hex(got.traceId) !== sp.traceId || hex(got.spanId) !== sp.spanId ||
		    got.startTimeUnixNano !== sp.startTimeUnixNano || got.endTimeUnixNano !== sp.endTimeUnixNano ||
		    got.kind !== sp.kind || got.name !== sp.name)
			throw new Error(`${where}: span ${k} changed in the round trip`);
		if (sp.parentSpanId && hex(got.parentSpanId) !== sp.parentSpanId)
			throw new Error(`${where}: parent changed`);
	})));
});
console.log(`otlp-check: ${lines.length} lines, ${spans} spans valid`);
