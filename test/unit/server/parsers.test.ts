import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { AuthFailure } from '../../../src/server/sigv4/auth-failure.js';
import { parseAuthorization } from '../../../src/server/sigv4/authorization-header.js';
import { basicIso, parseBasicIso } from '../../../src/server/sigv4/verifier.js';
import { decodeQueryBody } from '../../../src/server/protocols/query-protocol.js';
import { escapeXml, renderXmlFields } from '../../../src/server/protocols/xml-writer.js';
import { decodeJsonBody } from '../../../src/server/protocols/json-protocol.js';
import { ServiceError } from '../../../src/services/types.js';

const token = fc.stringMatching(/^[A-Za-z0-9_-]{1,20}$/);

test('authorization parser raises only AuthFailure', () => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.string(),
        fc.string().map((rest) => `AWS4-HMAC-SHA256 ${rest}`),
        fc
          .array(
            fc.tuple(fc.constantFrom('Credential', 'SignedHeaders', 'Signature', 'X'), fc.string()),
          )
          .map((pairs) => `AWS4-HMAC-SHA256 ${pairs.map(([k, v]) => `${k}=${v}`).join(', ')}`),
      ),
      (header) => {
        try {
          parseAuthorization(header);
        } catch (error) {
          assert.ok(error instanceof AuthFailure, String(error));
          assert.equal(error.kind, 'incomplete-signature');
          assert.ok(error.message.length > 0);
        }
      },
    ),
    { numRuns: 2000 },
  );
});

test('authorization parser round-trips a header', () => {
  fc.assert(
    fc.property(
      token,
      fc.integer({ min: 20000101, max: 20991231 }).map(String),
      token,
      token,
      fc.array(fc.stringMatching(/^[a-z][a-z0-9-]{0,15}$/), { minLength: 1, maxLength: 8 }),
      fc.stringMatching(/^[0-9a-f]{64}$/),
      (accessKeyId, scopeDate, region, service, signedHeaders, signature) => {
        const header =
          `AWS4-HMAC-SHA256 Credential=${accessKeyId}/${scopeDate}/${region}/${service}/aws4_request, ` +
          `SignedHeaders=${signedHeaders.join(';')}, Signature=${signature}`;
        assert.deepEqual(parseAuthorization(header), {
          accessKeyId,
          scopeDate,
          region,
          service,
          signedHeaders,
          signature,
        });
      },
    ),
  );
});

test('basic ISO dates round-trip and reject impossible dates', () => {
  fc.assert(
    fc.property(
      fc.date({ min: new Date('2000-01-01'), max: new Date('2099-12-31'), noInvalidDate: true }),
      (date) => {
        const seconds = Math.floor(date.getTime() / 1000) * 1000;
        assert.equal(parseBasicIso(basicIso(seconds)), seconds);
      },
    ),
  );
  for (const text of [
    '20261332T000000Z',
    '20260230T000000Z',
    '20261204T250000Z',
    '2026-12-04',
    '',
  ]) {
    assert.equal(parseBasicIso(text), undefined, text);
  }
});

test('query body decoder keeps every field but Action and Version', () => {
  fc.assert(
    fc.property(
      fc.stringMatching(/^[A-Za-z]{1,20}$/),
      fc.dictionary(fc.stringMatching(/^[A-Z][A-Za-z.0-9]{0,15}$/), fc.string()),
      (action, fields) => {
        const form = new URLSearchParams({ ...fields, Action: action, Version: '2010-05-08' });
        const decoded = decodeQueryBody(Buffer.from(form.toString()));
        assert.equal(decoded.action, action);
        assert.equal(decoded.version, '2010-05-08');
        const expected = { ...fields };
        delete expected.Action;
        delete expected.Version;
        assert.deepEqual(decoded.params, expected);
      },
    ),
  );
});

test('query body decoder never crashes on random bytes', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
      try {
        decodeQueryBody(Buffer.from(bytes));
      } catch (error) {
        assert.ok(error instanceof ServiceError);
        assert.equal(error.code, 'MissingAction');
      }
    }),
  );
});

test('JSON body decoder raises only SerializationException', () => {
  fc.assert(
    fc.property(fc.oneof(fc.string(), fc.json()), (text) => {
      try {
        const value = decodeJsonBody(Buffer.from(text), 'application/x-amz-json-1.1', '1.1');
        assert.equal(typeof value, 'object');
      } catch (error) {
        assert.ok(error instanceof ServiceError);
        assert.equal(error.code, 'SerializationException');
      }
    }),
  );
});

test('XML writer escapes text so it reads back unchanged', () => {
  fc.assert(
    fc.property(fc.string(), (text) => {
      const escaped = escapeXml(text);
      assert.ok(!/[<>]/.test(escaped));
      const unescaped = escaped
        .replace(/&lt;/g, '<')
        .replace(/&gt;/g, '>')
        .replace(/&#13;/g, '\r')
        .replace(/&amp;/g, '&');
      assert.equal(unescaped, text);
    }),
  );
});

test('XML writer renders lists as member elements', () => {
  assert.equal(
    renderXmlFields({
      Role: { RoleName: 'r', Tags: ['a', 'b'], Empty: [], Gone: undefined, On: true },
    }),
    '<Role><RoleName>r</RoleName><Tags><member>a</member><member>b</member></Tags><Empty/><On>true</On></Role>',
  );
  assert.throws(() => renderXmlFields({ 'bad name': 1 }), TypeError);
});
