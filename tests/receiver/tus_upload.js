// tus-js-client 4.x in its `ietf-draft-05` mode against syncd-receiver (test_upload_tusjs.cpp):
// creates an upload, aborts it mid-way, resumes it from the receiver's offset in a new Upload
// object (as a restarted client would, from the saved URL) and completes it.
// usage: node tus_upload.js ENDPOINT FILE TOKEN REPR_DIGEST CHUNK_SIZE
// prints one JSON line: {"url", "abortedAt", "resumedFrom", "done"}
'use strict';
const fs = require('fs');
const tus = require('tus-js-client');

const [endpoint, file, token, digest, chunk] = process.argv.slice(2);
const data = fs.readFileSync(file);
const common = {
  protocol: 'ietf-draft-05',
  chunkSize: Number(chunk),
  retryDelays: null,
  storeFingerprintForResuming: false,
  // The archive's digest goes with every request; the receiver uses it on the completing one.
  headers: { Authorization: 'Bearer ' + token, 'Repr-Digest': digest },
};

function firstPart() {
  return new Promise((resolve, reject) => {
    let aborted = false;
    const up = new tus.Upload(data, {
      ...common,
      endpoint,
      onProgress(sent, total) {
        if (!aborted && sent >= total * 0.45) {
          aborted = true;
          up.abort().then(() => resolve({ url: up.url, abortedAt: sent }), reject);
        }
      },
      onSuccess() { reject(new Error('completed before the abort')); },
      onError: reject,
    });
    up.start();
  });
}

function resume(url) {
  return new Promise((resolve, reject) => {
    let resumedFrom = null;
    const up = new tus.Upload(data, {
      ...common,
      uploadUrl: url,
      onChunkComplete(size, accepted) {
        if (resumedFrom === null) resumedFrom = accepted - size;
      },
      onSuccess() { resolve(resumedFrom); },
      onError: reject,
    });
    up.start();
  });
}

(async () => {
  const first = await firstPart();
  const resumedFrom = await resume(first.url);
  console.log(JSON.stringify({ url: first.url, abortedAt: first.abortedAt, resumedFrom, done: true }));
})().catch((e) => {
  console.error(String(e && e.stack ? e.stack : e));
  process.exit(1);
});
