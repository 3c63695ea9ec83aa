#!/usr/bin/env node
// Twilio's SMS segment calculator (npm `sms-segments-calculator`, pinned in package-lock.json) as
// an oracle for templates_app.encoding: tests/templates_app/test_twilio_oracle.py runs it once per
// session and compares. Read-only; nothing here is Herald code.
//
//   node twilio.js segments   stdin: one JSON string a line (a text)
//                             stdout: one JSON object a line, for each text:
//                               {plain: {encoding, segments, parts, graphemes}, smart: {…, text}}
//                               plain = smart encoding off, smart = on; parts = each part's text
//   node twilio.js tables     stdout: {smart: {character: replacement}, breaks: [[first, last, name]]}
//                               the Smart Encoding table and grapheme-splitter's break property
//                               of every code point (runs of one value, Other left out)
'use strict';

const fs = require('fs');
const readline = require('readline');
const { SegmentedMessage } = require('sms-segments-calculator');
const SmartEncodingMap = require('sms-segments-calculator/dist/libs/SmartEncodingMap').default;

function describe(message) {
  return {
    encoding: message.getEncodingName(),
    segments: message.segmentsCount,
    // Array.from: a Segment's own map/filter would build Segments, which add headers of their own.
    parts: message.segments.map((segment) =>
      Array.from(segment)
        .filter((unit) => !unit.isUserDataHeader)
        .map((unit) => unit.raw)
        .join(''),
    ),
    graphemes: message.graphemes,
  };
}

async function segments() {
  const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  for await (const line of lines) {
    if (!line) continue;
    const text = JSON.parse(line);
    const plain = describe(new SegmentedMessage(text, 'auto', false));
    const smartMessage = new SegmentedMessage(text, 'auto', true);
    const smart = describe(smartMessage);
    smart.text = smartMessage.graphemes.join('');
    process.stdout.write(JSON.stringify({ plain, smart }) + '\n');
  }
}

function breakProperties() {
  // grapheme-splitter keeps its property function private: load its source with one line added
  // that hands the function out, and ask it about every code point.
  let source = fs.readFileSync(require.resolve('grapheme-splitter'), 'utf8');
  const end = source.lastIndexOf('return this;');
  source = source.slice(0, end) + 'this.breakProperty = getGraphemeBreakProperty;\n' + source.slice(end);
  const GraphemeSplitter = new Function('module', `${source}\nreturn GraphemeSplitter;`)({});
  const splitter = new GraphemeSplitter();
  const names = [
    'CR', 'LF', 'Control', 'Extend', 'Regional_Indicator', 'SpacingMark', 'L', 'V', 'T', 'LV', 'LVT',
    'Other', 'Prepend', 'E_Base', 'E_Modifier', 'ZWJ', 'Glue_After_Zwj', 'E_Base_GAZ',
  ];
  const runs = [];
  let first = 0;
  let value = splitter.breakProperty(0);
  for (let code = 1; code <= 0x110000; code++) {
    const next = code < 0x110000 ? splitter.breakProperty(code) : -1;
    if (next !== value) {
      if (names[value] !== 'Other') runs.push([first, code - 1, names[value]]);
      first = code;
      value = next;
    }
  }
  return runs;
}

const mode = process.argv[2];
if (mode === 'segments') {
  segments().catch((error) => {
    process.stderr.write(`${error.stack}\n`);
    process.exit(1);
  });
} else if (mode === 'tables') {
  process.stdout.write(JSON.stringify({ smart: SmartEncodingMap, breaks: breakProperties() }) + '\n');
} else {
  process.stderr.write('usage: node twilio.js segments|tables\n');
  process.exit(2);
}
