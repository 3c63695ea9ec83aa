#!/usr/bin/env node
// A test SMSC on the npm `smpp` package (farhadi/node-smpp 0.5.1, pinned in package-lock.json): an
// SMPP 3.4 implementation nobody on the Herald team wrote, so Herald's connector is judged by a codec
// that is not its own. Started by tests/smsc/__init__.py (Smsc); README.md documents every knob.
//
//   PORT=0 CONTROL_PORT=0 node smsc.js [--max-tps=100 --receipt-mode=tlv ...]
//
// On start it prints ONE line to stdout, {"event":"listening","port":…,"control_port":…}, and
// nothing per message afterwards (it must sustain > 8,000 submit_sm/s on loopback). Everything it
// sees is recorded and served as JSON by a control server on a second loopback port.
'use strict';

const http = require('http');
const path = require('path');
const fs = require('fs');
const smpp = require('smpp');

const RULES = JSON.parse(fs.readFileSync(path.join(__dirname, 'rules.json'), 'utf8'));
const HOST = '127.0.0.1';
const RECEIVER_BINDS = new Set(['transceiver', 'receiver']);
const SENDER_BINDS = new Set(['transceiver', 'transmitter']);
const RECEIPT_MODES = new Set(['text_and_tlv', 'text', 'tlv', 'disagree']);

// --- configuration: env, then --kebab-case=value arguments; most of it changeable by POST /config --
const DEFAULTS = {
  PORT: 2775, CONTROL_PORT: 0, ACCOUNTS: '', MAX_BINDS: 0, RESP_DELAY_MS: 0, MAX_TPS: 0,
  DLR_DELAY_MS: 200, RECEIPT_MODE: 'text_and_tlv', STAMP_DIGITS: 10, HOLD_RECEIPTS: 0, TEXT_ID: 'hex',
  ID_START: 1, RECORD_SUBMITS: 1, REDELIVER_MS: 500, ENQUIRE_LINK_MS: 0,
  RECEIPT_BEFORE_RESP: 0, CRASH_AFTER_SUBMITS: 0, DROP_AFTER_SUBMITS: 0, IDLE_TIMEOUT_MS: 0,
  TLS_KEY_FILE: '', TLS_CERT_FILE: '',
};
const STRING_KEYS = new Set(['ACCOUNTS', 'RECEIPT_MODE', 'TEXT_ID', 'TLS_KEY_FILE', 'TLS_CERT_FILE']);
const cfg = {};

function setConfig(key, value) {
  if (!(key in DEFAULTS)) throw new Error(`unknown setting ${key}`);
  if (STRING_KEYS.has(key)) value = String(value);
  else if (typeof value === 'boolean') value = value ? 1 : 0;
  else if (!Number.isFinite(Number(value)) || String(value).trim() === '') throw new Error(`${key} must be a number`);
  else value = Number(value);
  if (key === 'RECEIPT_MODE' && !RECEIPT_MODES.has(value)) throw new Error(`RECEIPT_MODE must be one of ${[...RECEIPT_MODES]}`);
  if (key === 'STAMP_DIGITS' && value !== 10 && value !== 12) throw new Error('STAMP_DIGITS must be 10 or 12');
  if (key === 'TEXT_ID' && value !== 'hex' && value !== 'dec') throw new Error('TEXT_ID must be hex or dec');
  cfg[key] = value;
}

for (const key of Object.keys(DEFAULTS)) setConfig(key, process.env[key] !== undefined ? process.env[key] : DEFAULTS[key]);
for (const arg of process.argv.slice(2)) {
  const match = /^--([a-z0-9-]+)=(.*)$/.exec(arg);
  if (!match) throw new Error(`unknown argument ${arg} (use --name=value)`);
  setConfig(match[1].toUpperCase().replace(/-/g, '_'), match[2]);
}

function accounts() {
  const result = new Map();
  for (const item of cfg.ACCOUNTS.split(',').filter(Boolean)) {
    const at = item.indexOf(':');
    result.set(at < 0 ? item : item.slice(0, at), at < 0 ? '' : item.slice(at + 1));
  }
  return result;
}

// --- state ---------------------------------------------------------------------------------------
let nextId = cfg.ID_START;
let sessionCount = 0;
const sessions = new Map(); // id -> state (closed ones too, until POST /reset)
let counters, submits, deliveries, held, waiting, throttle;

function resetState() {
  counters = {
    submits: 0, accepted: 0, throttled: 0, throttled_tps: 0, rejected: 0, unanswered_forever: 0,
    binds: 0, bind_failures: 0, enquire_links: 0, unbinds: 0, unbind_resps: 0, drops: 0,
    receipts_sent: 0, receipts_acked: 0, mo_sent: 0, mo_acked: 0, redeliveries: 0, deliver_sm_nacked: 0,
    idle_drops: 0,
  };
  submits = [];
  deliveries = [];
  held = [];
  waiting = [];
  throttle = new Map();
  for (const [id, s] of sessions) {
    if (!s.open) sessions.delete(id);
    else Object.assign(s, {submits: 0, max_unanswered: s.unanswered, enquire_links: 0, receipts_sent: 0, mo_sent: 0});
  }
}
resetState();

const now = () => Date.now();
let stampSecond = -1, stampText = '';
function stamp(digits) { // YYMMDDhhmm[ss], UTC; built once a second
  const second = Math.floor(now() / 1000);
  if (second !== stampSecond) {
    stampSecond = second;
    stampText = new Date(second * 1000).toISOString().replace(/[-T:]/g, '').slice(2, 14);
  }
  return stampText.slice(0, digits || cfg.STAMP_DIGITS);
}
const hex = (buffer) => (Buffer.isBuffer(buffer) ? buffer.toString('hex') : null);

function publicSession(s) {
  const {session, inflight, timer, closing, ...rest} = s;
  return {...rest, inflight_deliver_sm: inflight.size};
}

// --- decoding what arrived -----------------------------------------------------------------------
// npm smpp replaces short_message / message_payload by their decoded text; keep the raw octets too,
// so a record says exactly what was on the wire (septets are counted on it, unpacked: one a byte).
const messageFilter = smpp.filters.message;
const decodeMessage = messageFilter.decode;
messageFilter.decode = function (value, skipUdh) {
  if (Buffer.isBuffer(value)) {
    if (value === this.short_message) this._raw_short_message = value;
    else if (value === this.message_payload) this._raw_message_payload = value;
  }
  return decodeMessage.call(this, value, skipUdh);
};

function concatInfo(udhList) {
  for (const ie of udhList || []) {
    if (ie[0] === 0x00 && ie[1] === 3) return {iei: 0, ref: ie[2], total: ie[3], seq: ie[4]};
    if (ie[0] === 0x08 && ie[1] === 4) return {iei: 8, ref: ie.readUInt16BE(2), total: ie[4], seq: ie[5]};
  }
  return null;
}

function unitsOf(body, dataCoding) {
  if (!body) return 0;
  if ((dataCoding & 0x0f) === 8) return body.length / 2; // UCS-2 code units (a surrogate pair is 2)
  return body.length; // GSM 03.38 unpacked: one septet a byte (an escape is 2); other codings: bytes
}

// Decoded when asked for (GET /submits), not on arrival: recording must not slow the SMSC down.
function decodeSubmit(record) {
  const {pdu} = record;
  const esm = pdu.esm_class || 0;
  const rawShort = pdu._raw_short_message || Buffer.alloc(0);
  const rawPayload = pdu._raw_message_payload || null;
  const udhi = (esm & 0x40) !== 0;
  // The UDH is in short_message, or in message_payload when short_message is empty.
  const carrier = rawShort.length ? rawShort : rawPayload || rawShort;
  const decoded = rawShort.length ? pdu.short_message : pdu.message_payload;
  const udhLength = udhi && carrier.length ? carrier[0] + 1 : 0;
  const body = carrier.slice(udhLength);
  const text = decoded && typeof decoded.message === 'string' ? decoded.message : null;
  const sar = pdu.sar_msg_ref_num !== undefined || pdu.sar_total_segments !== undefined
    ? {ref: pdu.sar_msg_ref_num, total: pdu.sar_total_segments, seq: pdu.sar_segment_seqnum} : null;
  return {
    n: record.n, session: record.session, system_id: record.system_id, at: record.at,
    sequence_number: pdu.sequence_number, service_type: pdu.service_type, source_addr: pdu.source_addr,
    source_addr_ton: pdu.source_addr_ton, source_addr_npi: pdu.source_addr_npi, destination_addr: pdu.destination_addr,
    dest_addr_ton: pdu.dest_addr_ton, dest_addr_npi: pdu.dest_addr_npi, esm_class: esm, protocol_id: pdu.protocol_id,
    priority_flag: pdu.priority_flag, registered_delivery: pdu.registered_delivery, data_coding: pdu.data_coding,
    udh: udhLength ? concatInfo(decoded && decoded.udh) : null, udh_hex: udhLength ? hex(carrier.slice(0, udhLength)) : null,
    sar, short_message_hex: hex(rawShort), message_payload_hex: hex(rawPayload),
    text, length: unitsOf(body, pdu.data_coding || 0),
    command_status: record.command_status, message_id: record.message_id, answered_at: record.answered_at, rule: record.rule,
  };
}

// --- deliver_sm out: receipts and MO ---------------------------------------------------------------
function receivers(systemId) {
  const result = [];
  for (const s of sessions.values()) {
    if (s.open && RECEIVER_BINDS.has(s.bind) && (systemId === null || s.system_id === systemId)) result.push(s);
  }
  return result;
}

let roundRobin = 0;
function deliver(d) {
  // The preferred session first (a receipt goes back on the bind its submit_sm came on), then the
  // others in turn; a socket that cannot be written to (closing) is skipped.
  const candidates = receivers(d.system_id);
  const start = candidates.length ? roundRobin++ % candidates.length : 0;
  const order = [...candidates.slice(start), ...candidates.slice(0, start)];
  const preferred = order.findIndex((s) => s.id === d.prefer_session);
  if (preferred > 0) order.unshift(...order.splice(preferred, 1));
  for (const target of order) {
    const pdu = new smpp.PDU('deliver_sm', {...d.fields});
    if (!target.session.send(pdu, (resp) => onDeliverResp(target, d, resp))) continue;
    d.attempts += 1;
    if (d.attempts > 1) counters.redeliveries += 1;
    Object.assign(d, {state: 'sent', session: target.id, sent_at: now()});
    target.inflight.set(pdu.sequence_number, d);
    if (d.attempts === 1) {
      counters[d.kind === 'receipt' ? 'receipts_sent' : 'mo_sent'] += 1;
      target[d.kind === 'receipt' ? 'receipts_sent' : 'mo_sent'] += 1;
    }
    return;
  }
  d.state = 'queued'; // stored until a receiver-capable session of that system_id binds
  waiting.push(d);
}

function onDeliverResp(s, d, resp) {
  s.inflight.delete(resp.sequence_number);
  d.resp_at = now();
  d.resp_status = resp.command_status;
  if (resp.command_status === 0) {
    d.state = 'acked';
    counters[d.kind === 'receipt' ? 'receipts_acked' : 'mo_acked'] += 1;
  } else {
    counters.deliver_sm_nacked += 1;
    d.state = 'retrying'; // an ESME that answers an error gets it again, as real SMSCs do
    setTimeout(() => deliver(d), cfg.REDELIVER_MS);
  }
}

function flushWaiting() {
  const queue = waiting;
  waiting = [];
  for (const d of queue) deliver(d);
}

function newDelivery(kind, systemId, preferSession, fields, extra) {
  const d = {
    n: deliveries.length + 1, kind, system_id: systemId, prefer_session: preferSession, session: null, state: 'new',
    attempts: 0, created_at: now(), sent_at: null, resp_at: null, resp_status: null, fields, ...extra,
  };
  deliveries.push(d);
  return d;
}

function receiptFields({messageId, stat, err, mode, textId, stampDigits, submitDate, source, destination}) {
  const info = RULES.stats[stat];
  if (!info) throw new Error(`stat must be one of ${Object.keys(RULES.stats)}`);
  mode = mode || cfg.RECEIPT_MODE;
  if (!RECEIPT_MODES.has(mode)) throw new Error(`mode must be one of ${[...RECEIPT_MODES]}`);
  err = err === undefined || err === null ? info.err : String(err);
  if (!/^[0-9A-Fa-f]{3}$/.test(err)) throw new Error('err must be 3 hex digits');
  let textStat = stat;
  if (mode === 'disagree') textStat = stat === 'DELIVRD' ? 'UNDELIV' : 'DELIVRD'; // the TLV says the truth
  const textInfo = RULES.stats[textStat];
  let shownId = String(messageId);
  if ((textId || cfg.TEXT_ID) === 'dec' && /^[0-9a-fA-F]+$/.test(shownId)) shownId = BigInt(`0x${shownId}`).toString(10);
  const text = `id:${shownId} sub:001 dlvrd:${textInfo.dlvrd} submit date:${submitDate || stamp(stampDigits)}` +
    ` done date:${stamp(stampDigits)} stat:${textStat} err:${mode === 'disagree' ? textInfo.err : err} text:`;
  const fields = {
    source_addr: source || '', destination_addr: destination || '', esm_class: 4, data_coding: 0,
    short_message: mode === 'tlv' ? Buffer.alloc(0) : Buffer.from(text, 'ascii'),
  };
  if (mode !== 'text') {
    fields.receipted_message_id = String(messageId);
    fields.message_state = info.message_state;
    const code = parseInt(err, 16);
    if (code) fields.network_error_code = Buffer.from([3, code >> 8, code & 0xff]); // type 3: GSM
  }
  return fields;
}

function sendReceipt(systemId, preferSession, options, extra) {
  const fields = receiptFields(options);
  const d = newDelivery('receipt', systemId, preferSession, fields, {
    message_id: String(options.messageId), stat: options.stat, mode: options.mode || cfg.RECEIPT_MODE, ...extra,
  });
  if (cfg.HOLD_RECEIPTS && !options.now) {
    d.state = 'held';
    held.push(d);
  } else deliver(d);
  return d;
}

function splitText(text, parts) {
  const chars = Array.from(text); // code points: a surrogate pair is never cut
  const size = Math.ceil(chars.length / parts);
  const result = [];
  for (let i = 0; i < parts; i++) result.push(chars.slice(i * size, (i + 1) * size).join(''));
  return result;
}

function sendMo(body) {
  const parts = body.parts === undefined ? 1 : Number(body.parts);
  if (!Number.isInteger(parts) || parts < 1 || parts > 255) throw new Error('parts must be 1..255');
  if (typeof body.text !== 'string' || !body.from || !body.to) throw new Error('from, to and text are required');
  const encoding = body.encoding || 'gsm';
  if (encoding !== 'gsm' && encoding !== 'ucs2') throw new Error('encoding must be gsm or ucs2');
  const concat = body.concat || 'udh';
  if (concat !== 'udh' && concat !== 'sar') throw new Error('concat must be udh or sar');
  const coder = encoding === 'gsm' ? smpp.encodings.ASCII : smpp.encodings.UCS2;
  const ref = count(body.ref, 'ref', Math.floor(Math.random() * 256));
  if (ref > 0xffff) throw new Error('ref must be 0..65535');
  if (parts > Math.max(1, Array.from(body.text).length)) throw new Error('parts must not exceed the characters of text');
  const pieces = splitText(body.text, parts);
  const encoded = pieces.map((piece) => coder.encode(piece));
  const room = parts > 1 && concat === 'udh' ? 254 - 6 : 254;
  const over = encoded.findIndex((octets) => octets.length > room);
  if (over >= 0) throw new Error(`part ${over + 1} is ${encoded[over].length} octets, more than ${room}: use more parts`);
  const order = body.reverse ? 'reverse' : 'fifo';
  const made = pieces.map((piece, i) => {
    const fields = {
      source_addr: String(body.from), destination_addr: String(body.to), esm_class: 0,
      data_coding: encoding === 'gsm' ? 0 : 8, short_message: encoded[i],
    };
    if (parts > 1 && concat === 'udh') {
      fields.esm_class = 0x40;
      fields.short_message = Buffer.concat([Buffer.from([5, 0, 3, ref & 0xff, parts, i + 1]), fields.short_message]);
    } else if (parts > 1) {
      Object.assign(fields, {sar_msg_ref_num: ref, sar_total_segments: parts, sar_segment_seqnum: i + 1});
    }
    return newDelivery('mo', body.system_id === undefined ? null : String(body.system_id),
      body.session === undefined ? null : Number(body.session), fields,
      {source_addr: String(body.from), destination_addr: String(body.to), text: piece, part: i + 1, parts});
  });
  for (const d of order === 'reverse' ? [...made].reverse() : made) deliver(d);
  return made;
}

// --- the SMPP server -----------------------------------------------------------------------------
function onSubmit(s, pdu) {
  if (!SENDER_BINDS.has(s.bind)) {
    s.session.send(pdu.response({command_status: smpp.ESME_RINVBNDSTS}));
    return;
  }
  counters.submits += 1;
  s.submits += 1;
  const record = {
    n: counters.submits, session: s.id, system_id: s.system_id, at: now(), pdu,
    command_status: null, message_id: null, answered_at: null, rule: null,
  };
  if (cfg.RECORD_SUBMITS) submits.push(record);
  if (cfg.CRASH_AFTER_SUBMITS && counters.submits >= cfg.CRASH_AFTER_SUBMITS) process.kill(process.pid, 'SIGKILL');
  if (cfg.DROP_AFTER_SUBMITS && counters.submits === cfg.DROP_AFTER_SUBMITS) {
    for (const other of sessions.values()) {
      if (other.open) {
        other.closing = 'drop';
        other.session.destroy(); // this submit_sm, and any in flight, unanswered
      }
    }
    counters.drops += 1;
    return;
  }
  const dest = String(pdu.destination_addr);
  const suffix = Object.keys(RULES.suffixes).find((end) => dest.endsWith(end));
  const rule = suffix ? RULES.suffixes[suffix] : {};
  record.rule = suffix || null;
  if (rule.no_response) {
    counters.unanswered_forever += 1; // not counted in the window: the client times it out
    return;
  }
  s.unanswered += 1;
  if (s.unanswered > s.max_unanswered) s.max_unanswered = s.unanswered;
  let status = 0;
  if (cfg.MAX_TPS) {
    const second = Math.floor(now() / 1000);
    let slot = throttle.get(s.system_id);
    if (!slot || slot.second !== second) throttle.set(s.system_id, (slot = {second, count: 0}));
    if (++slot.count > cfg.MAX_TPS) {
      status = smpp.ESME_RTHROTTLED;
      counters.throttled_tps += 1;
    }
  }
  if (!status && rule.command_status) status = rule.command_status;
  const answer = () => {
    if (!s.open) return;
    s.unanswered -= 1;
    record.answered_at = now();
    record.command_status = status;
    if (status) {
      counters[status === smpp.ESME_RTHROTTLED ? 'throttled' : 'rejected'] += 1;
      s.session.send(pdu.response({command_status: status}));
      return;
    }
    const id = (nextId++).toString(16).padStart(10, '0');
    record.message_id = id;
    counters.accepted += 1;
    const wanted = pdu.registered_delivery & 3; // 1: always, 2: on failure only
    const stat = rule.receipt || 'DELIVRD';
    const receipt = wanted === 1 || (wanted === 2 && stat !== 'DELIVRD');
    const submitDate = stamp();
    const make = () => sendReceipt(s.system_id, s.id, {
      messageId: id, stat, submitDate, source: pdu.destination_addr, destination: pdu.source_addr,
    }, {submit: record.n || null});
    if (receipt && cfg.RECEIPT_BEFORE_RESP) make(); // the race real SMSCs have: receipt first
    s.session.send(pdu.response({message_id: id}));
    if (receipt && !cfg.RECEIPT_BEFORE_RESP) {
      if (cfg.DLR_DELAY_MS > 0) setTimeout(make, cfg.DLR_DELAY_MS);
      else make();
    }
  };
  if (cfg.RESP_DELAY_MS > 0) setTimeout(answer, cfg.RESP_DELAY_MS);
  else answer();
}

function onBind(s, pdu, kind) {
  const known = accounts();
  const systemId = String(pdu.system_id);
  const bound = [...sessions.values()].filter((o) => o.open && o.bind && o.system_id === systemId).length;
  const refused = s.bind !== null ? smpp.ESME_RALYBND
    : known.size && known.get(systemId) !== String(pdu.password) ? smpp.ESME_RBINDFAIL
    : cfg.MAX_BINDS && bound >= cfg.MAX_BINDS ? smpp.ESME_RBINDFAIL : 0;
  if (refused) {
    counters.bind_failures += 1;
    s.session.send(pdu.response({command_status: refused}));
    return;
  }
  Object.assign(s, {bind: kind, system_id: systemId, bound_at: now()});
  counters.binds += 1;
  s.session.send(pdu.response({system_id: 'herald-smsc'}));
  if (RECEIVER_BINDS.has(kind)) flushWaiting();
}

function onClose(s, by) {
  if (!s.open) return;
  s.open = false;
  s.closed_at = now();
  s.closed_by = s.closing || by;
  if (s.timer) clearInterval(s.timer);
  // deliver_sm never acknowledged go again, on another bind or the next one: an SMSC keeps a receipt
  // until an ESME acknowledged it.
  const lost = [...s.inflight.values()];
  s.inflight.clear();
  for (const d of lost) {
    d.state = 'retrying';
    setTimeout(() => deliver(d), cfg.REDELIVER_MS);
  }
}

// Our side is done (unbind, drop): the session counts as closed now, and the socket is destroyed if the
// ESME does not close its side within a second.
function closeSession(s, by) {
  s.session.close();
  onClose(s, by);
  setTimeout(() => s.session.destroy(), 1000).unref();
}

// TLS (SMPP over TLS, as carriers offer it) when a key and a certificate are given, at start only.
const tlsOptions = cfg.TLS_KEY_FILE && cfg.TLS_CERT_FILE
  ? { key: fs.readFileSync(cfg.TLS_KEY_FILE), cert: fs.readFileSync(cfg.TLS_CERT_FILE) } : {};
const server = smpp.createServer(tlsOptions, (session) => {
  const s = {
    id: ++sessionCount, bind: null, system_id: null, open: true, remote_port: session.socket.remotePort,
    connected_at: now(), bound_at: null, closed_at: null, closed_by: null, closing: null, last_pdu_at: null, unbound: false,
    submits: 0, unanswered: 0, max_unanswered: 0, enquire_links: 0, receipts_sent: 0, mo_sent: 0,
    session, inflight: new Map(), timer: null,
  };
  sessions.set(s.id, s);
  session.on('pdu', () => { s.last_pdu_at = now(); });
  session.on('bind_transceiver', (pdu) => onBind(s, pdu, 'transceiver'));
  session.on('bind_transmitter', (pdu) => onBind(s, pdu, 'transmitter'));
  session.on('bind_receiver', (pdu) => onBind(s, pdu, 'receiver'));
  session.on('enquire_link', (pdu) => {
    s.enquire_links += 1;
    counters.enquire_links += 1;
    session.send(pdu.response());
  });
  session.on('unbind', (pdu) => {
    s.unbound = true;
    counters.unbinds += 1;
    session.send(pdu.response());
    closeSession(s, 'unbind');
  });
  session.on('submit_sm', (pdu) => onSubmit(s, pdu));
  for (const command of ['data_sm', 'submit_multi', 'query_sm', 'cancel_sm', 'replace_sm']) {
    session.on(command, (pdu) => session.send(pdu.response({command_status: smpp.ESME_RINVCMDID})));
  }
  session.on('unknown', (pdu) => session.send(pdu.response()));
  session.on('close', () => onClose(s, 'peer'));
  session.on('error', () => { onClose(s, 'error'); session.destroy(); }); // a PDU it cannot parse: drop the link
  if (cfg.ENQUIRE_LINK_MS > 0) s.timer = setInterval(() => session.enquire_link(), cfg.ENQUIRE_LINK_MS);
});

// A real SMSC drops a bind that says nothing (not even enquire_link) for too long.
setInterval(() => {
  if (!cfg.IDLE_TIMEOUT_MS) return;
  const limit = now() - cfg.IDLE_TIMEOUT_MS;
  for (const s of sessions.values()) {
    if (s.open && (s.last_pdu_at || s.connected_at) < limit) {
      counters.idle_drops += 1;
      closeSession(s, 'idle');
    }
  }
}, 50).unref();

// --- the control server --------------------------------------------------------------------------
function findSessions(body) {
  return [...sessions.values()].filter((s) => s.open
    && (body.session === undefined || s.id === Number(body.session))
    && (body.system_id === undefined || s.system_id === String(body.system_id)));
}

function stats() {
  const all = [...sessions.values()];
  const pending = deliveries.filter((d) => d.state !== 'acked').length;
  return {
    ...counters, held: held.length, queued: waiting.length, deliveries_pending: pending,
    max_unanswered: all.reduce((max, s) => Math.max(max, s.max_unanswered), 0),
    open_sessions: all.filter((s) => s.open).length, sessions: all.map(publicSession),
  };
}

function publicDelivery(d) {
  const {fields, prefer_session: _, ...rest} = d;
  return {...rest, esm_class: fields.esm_class, short_message_hex: hex(fields.short_message)};
}

function count(value, name, fallback) {
  if (value === undefined || value === null || value === '') return fallback;
  const number = Number(value);
  if (!Number.isInteger(number) || number < 0) throw new Error(`${name} must be a whole number >= 0`);
  return number;
}

// A session named in a control request must be open and able to receive deliver_sm.
function receiverSession(body) {
  if (body.session === undefined) return null;
  const s = sessions.get(Number(body.session));
  if (!s || !s.open || !RECEIVER_BINDS.has(s.bind)) throw new Error(`session ${body.session} is not an open receiver-capable bind`);
  return s.id;
}

const routes = {
  'GET /stats': () => stats(),
  'GET /config': () => cfg,
  'GET /submits': (body, query) => submits.slice(count(query.get('since'), 'since', 0)).map(decodeSubmit),
  'GET /deliveries': (body, query) => deliveries.slice(count(query.get('since'), 'since', 0)).map(publicDelivery),
  'POST /reset': () => { resetState(); return stats(); },
  'POST /config': (body) => {
    const changes = Object.entries(body).map(([key, value]) => [key.toUpperCase(), value]);
    for (const [key] of changes) if (key === 'PORT' || key === 'CONTROL_PORT') throw new Error(`${key} is fixed at start`);
    const before = {...cfg};
    try { for (const [key, value] of changes) setConfig(key, value); } catch (e) { Object.assign(cfg, before); throw e; }
    return cfg;
  },
  'POST /receipt': (body) => {
    if (body.message_id === undefined) throw new Error('message_id is required');
    const d = sendReceipt(body.system_id === undefined ? null : String(body.system_id), receiverSession(body), {
        messageId: body.message_id, stat: body.stat || 'DELIVRD', err: body.err, mode: body.mode,
        textId: body.text_id, stampDigits: body.stamp_digits, source: body.source, destination: body.destination,
        now: body.now !== undefined ? body.now : true,
      }, {});
    return publicDelivery(d);
  },
  'POST /receipts/release': (body) => {
    const order = body.order || 'fifo';
    if (order !== 'fifo' && order !== 'reverse') throw new Error('order must be fifo or reverse');
    const taken = held.splice(0, count(body.count, 'count', held.length));
    for (const d of order === 'reverse' ? taken.reverse() : taken) deliver(d);
    return {released: taken.length, held: held.length};
  },
  'POST /mo': (body) => { receiverSession(body); return sendMo(body).map(publicDelivery); },
  'POST /drop': (body) => {
    const how = body.how || 'close';
    if (!['close', 'destroy', 'unbind'].includes(how)) throw new Error('how must be close, destroy or unbind');
    const targets = findSessions(body);
    for (const s of targets) {
      counters.drops += 1;
      s.closing = 'drop';
      if (how === 'unbind') {
        s.session.unbind(() => { counters.unbind_resps += 1; closeSession(s, 'drop'); });
        setTimeout(() => closeSession(s, 'drop'), 1000).unref(); // no unbind_resp: close anyway
      } else if (how === 'destroy') s.session.destroy();
      else closeSession(s, 'drop');
    }
    return {dropped: targets.map((s) => s.id)};
  },
  'POST /enquire_link': (body) => {
    const targets = findSessions(body);
    for (const s of targets) s.session.enquire_link();
    return {sent: targets.map((s) => s.id)};
  },
};

const control = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (chunk) => chunks.push(chunk));
  req.on('end', () => {
    const url = new URL(req.url, `http://${HOST}`);
    const route = routes[`${req.method} ${url.pathname.replace(/\/+$/, '') || '/'}`];
    let status = 200, payload;
    try {
      if (!route) { status = 404; payload = {error: `no route ${req.method} ${url.pathname}`}; }
      else {
        const raw = Buffer.concat(chunks).toString('utf8');
        const body = raw ? JSON.parse(raw) : {};
        if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new Error('body must be a JSON object');
        payload = route(body, url.searchParams);
      }
    } catch (e) {
      status = 400;
      payload = {error: e.message};
    }
    res.writeHead(status, {'Content-Type': 'application/json'});
    res.end(JSON.stringify(payload));
  });
});

server.listen(cfg.PORT, HOST, () => {
  control.listen(cfg.CONTROL_PORT, HOST, () => {
    process.stdout.write(`${JSON.stringify({event: 'listening', port: server.address().port, control_port: control.address().port})}\n`);
  });
});
const stop = () => process.exit(0);
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
