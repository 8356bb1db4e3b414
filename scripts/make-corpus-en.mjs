#!/usr/bin/env node
/**
 * Builds the English corpus of the scaling reproduction (docs/REPRODUCTION.md) from four Debian packages, with a
 * document-level held-out split that training never sees:
 *
 *   node scripts/make-corpus-en.mjs OUTDIR [--debs DIR]
 *
 * Sources (licences as stated in each package's copyright file; all are public domain or permissive):
 *   python3.11-doc  the Python 3.11 documentation, reST sources (html/_sources/**.rst.txt): PSF License v2
 *                   (permissive). Technical prose: tutorial, HOWTOs, language and library reference, What's New.
 *   sword-text-web  the World English Bible (SWORD module engWEB2015eb): public domain. Modern-English Bible.
 *   dict-jargon     the Jargon File 4.4.7 (dictd database): public domain.
 *   dict-devil      Ambrose Bierce, The Devil's Dictionary (1911; dictd database): public domain.
 *
 * Cleaning (nothing is paraphrased; markup, code and apparatus are removed, prose is kept verbatim):
 *   reST     section adornments, comments, targets, substitution definitions, tables and every non-prose
 *            directive (code-block, doctest, testcode, literalinclude, toctree, index, image, productionlist, ...)
 *            with their bodies are dropped; literal blocks after '::' and doctest paragraphs ('>>>') are dropped;
 *            prose directives (function, class, method, note, warning, versionchanged, seealso, ...) lose their
 *            directive line and keep their body; inline roles, ``literals``, `links <...>`_, *emphasis* and
 *            escapes become their text.
 *   OSIS     footnotes (<note>), headings (<title>) and every tag are dropped (Strong's numbers go with the
 *            <w> tags); XML entities decoded; one document per chapter (and one for the preface).
 *   dictd    one document per entry; database-info entries (00-database-*) dropped; Jargon cross-reference
 *            braces {x} become x; the pronunciation line of Jargon entries is dropped.
 *   all      wrapped lines joined: one paragraph per line, documents separated by a blank line; runs of spaces
 *            collapsed; NFC normalised; paragraphs with no letter dropped.
 * Split: a document goes to val.txt when FNV-1a(source + '/' + document id) % 20 == 0 (about 5 %), otherwise to
 * train.txt — whole documents, so no held-out paragraph is ever trained on.
 * Writes OUTDIR/train.txt, OUTDIR/val.txt, OUTDIR/manifest.json (package versions, licences, documents, bytes,
 * sha256 of both files). Needs apt-get (downloads the four .debs unless --debs DIR already holds them) and dpkg-deb.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { inflateSync, gunzipSync } from 'node:zlib';
import { parseScriptArgs } from './args.mjs';

const { values: o, args: { outdir: out } } = parseScriptArgs({
  name: 'make-corpus-en.mjs',
  about: 'Builds the English corpus of the scaling reproduction (train.txt, val.txt, manifest.json) from four Debian ' +
    'packages\n(python3.11-doc, sword-text-web, dict-jargon, dict-devil); needs apt-get and dpkg-deb.',
  options: { debs: { value: 'DIR', help: 'where the .debs are (downloaded there when missing) (default: OUTDIR/debs)' } },
  args: [{ name: 'outdir', label: 'OUTDIR', help: 'output folder (created)' }],
});
const debs = o.debs ?? join(out, 'debs');
const PACKAGES = {
  'python3.11-doc': 'PSF-2.0 (Python Software Foundation License Version 2)',
  'sword-text-web': 'public domain (World English Bible)',
  'dict-jargon': 'public domain (The Jargon File)',
  'dict-devil': 'public domain (copyright expired, 1911)',
};
mkdirSync(debs, { recursive: true });
const debOf = (p) => readdirSync(debs).find((f) => f.startsWith(`${p}_`) && f.endsWith('.deb'));
for (const p of Object.keys(PACKAGES)) {
  if (!debOf(p)) execFileSync('apt-get', ['download', p], { cwd: debs, stdio: ['ignore', 'ignore', 'inherit'] });
  if (!debOf(p)) throw new Error(`apt-get download ${p} left no .deb in ${debs}`);
}
const root = join(out, 'extract');
const versions = {};
for (const p of Object.keys(PACKAGES)) {
  const deb = join(debs, debOf(p));
  versions[p] = execFileSync('dpkg-deb', ['-f', deb, 'Version'], { encoding: 'utf8' }).trim();
  if (!existsSync(join(root, p))) { mkdirSync(join(root, p), { recursive: true }); execFileSync('dpkg-deb', ['-x', deb, join(root, p)]); }
}

// ---- shared cleaning --------------------------------------------------------------------------------------------
const ENTITIES = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ' };
const decodeEntities = (s) => s.replace(/&(#x[0-9a-f]+|#\d+|\w+);/gi, (m, e) =>
  e[0] === '#' ? String.fromCodePoint(e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : Number(e.slice(1))) : ENTITIES[e] ?? m);
/** Paragraphs (blank-line separated, wrapped lines joined) → one line each; drops paragraphs without a letter. */
function paragraphs(text) {
  return text.split(/\n\s*\n/).map((p) => p.replace(/\s+/g, ' ').trim()).filter((p) => /\p{L}/u.test(p)).map((p) => p.normalize('NFC'));
}

// ---- reST (Python docs) -----------------------------------------------------------------------------------------
const PROSE_DIRECTIVES = new Set(['function', 'method', 'class', 'attribute', 'data', 'exception', 'decorator',
  'decoratormethod', 'classmethod', 'staticmethod', 'abstractmethod', 'coroutinefunction', 'coroutinemethod',
  'module', 'describe', 'envvar', 'option', 'cmdoption', 'opcode', 'pdbcommand', 'note', 'warning', 'seealso',
  'versionadded', 'versionchanged', 'deprecated', 'deprecated-removed', 'attention', 'caution', 'danger', 'error',
  'hint', 'important', 'tip', 'impl-detail', 'admonition', 'topic', 'sidebar', 'rubric', 'glossary', 'only',
  'availability', 'audit-event', 'c:function', 'c:type', 'c:member', 'c:macro', 'c:var', 'c:struct', 'c:data',
  'currentmodule', 'sectionauthor', 'moduleauthor', 'centered', 'hlist', 'container', 'epigraph']);
const indentOf = (l) => l.length - l.trimStart().length;
function inlineRst(s) {
  return s
    .replace(/:(pep|rfc):`([^`<]*?)(\s*<[^>]*>)?`/gi, (_, r, x) => (x.includes(' ') ? x : `${r.toUpperCase()} ${x.replace(/#.*$/, '')}`))
    .replace(/:[\w:.+-]+:`([^`]*)`/g, (_, x) => { let t = x.replace(/^[~!]/, ''); const m = /^(.*?)\s*<[^>]*>$/.exec(t); if (m && m[1]) t = m[1]; return t; })
    .replace(/``([^`]+)``/g, '$1')
    .replace(/`([^`<]*?)\s*<[^>]*>`__?/g, '$1')
    .replace(/`([^`]+)`__?/g, '$1')
    .replace(/`([^`]+)`/g, '$1')
    .replace(/\*\*([^*]+)\*\*/g, '$1')
    .replace(/(^|[\s(])\*([^*\s][^*]*)\*(?=[\s).,;:!?]|$)/g, '$1$2')
    .replace(/\|([^|\s][^|]*)\|_?/g, '$1')
    .replace(/\\ /g, '').replace(/\\(.)/g, '$1')
    .replace(/\s*\[#\w*\]_/g, '');
}
function cleanRst(src) {
  const lines = src.replace(/\r\n?/g, '\n').replace(/\t/g, '        ').split('\n');
  const kept = [];
  let i = 0;
  const skipBlock = (base) => { // skips the indented body (and blank lines inside it) after line i-1
    while (i < lines.length && (lines[i].trim() === '' || indentOf(lines[i]) > base)) i++;
  };
  while (i < lines.length) {
    const line = lines[i], t = line.trim(), ind = indentOf(line);
    if (/^([=\-~^"'`#*+<>_:.])\1{3,}$/.test(t)) { i++; continue; }                          // section adornment
    if (/^(=+ +)+=+$/.test(t) || /^\+[-=+]+\+$/.test(t) || /^\|.*\|$/.test(t) || /^\+[-=]/.test(t)) { i++; continue; } // tables
    const d = /^\.\.\s+([\w:.-]+)::(.*)$/.exec(t);
    if (t.startsWith('..') && (t === '..' || /^\.\.\s/.test(t))) {
      i++;
      if (d && PROSE_DIRECTIVES.has(d[1])) {
        while (i < lines.length && /^\s*:[\w-]+:/.test(lines[i]) && lines[i].trim() !== '') i++;  // directive options
        const arg = d[1].startsWith('version') || d[1] === 'deprecated' ? d[2].trim().replace(/^[\d.]+\s*/, '') : '';
        if (arg) kept.push(arg, '');
        continue;                                       // the body stays, read as ordinary lines
      }
      skipBlock(ind); kept.push(''); continue;           // comments, targets, code, toctree, index, images...
    }
    if (t.startsWith('>>>')) { while (i < lines.length && lines[i].trim() !== '') i++; kept.push(''); continue; }
    if (t.endsWith('::')) {                              // the paragraph is prose; the indented block after it is code
      const text = t === '::' ? '' : t.replace(/\s*::$/, t.endsWith(' ::') ? '' : ':');
      if (text) kept.push(text);
      i++;
      while (i < lines.length && lines[i].trim() === '') i++;
      if (i < lines.length && indentOf(lines[i]) > ind) skipBlock(ind);
      kept.push('');
      continue;
    }
    if (/^:[\w-]+:(\s|$)/.test(t) && kept.at(-1) === '') { i++; continue; }    // field lists at file top (:tocdepth:)
    kept.push(t); i++;
  }
  return paragraphs(kept.join('\n')).map(inlineRst).filter((p) => /\p{L}/u.test(p)); // roles may span wrapped lines
}
function* walk(dir) {
  for (const f of readdirSync(dir).sort()) {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) yield* walk(p); else yield p;
  }
}
function pythonDocs() {
  const base = join(root, 'python3.11-doc/usr/share/doc/python3.11/html/_sources');
  const docs = [];
  for (const p of walk(base)) {
    if (!p.endsWith('.rst.txt')) continue;
    const paras = cleanRst(readFileSync(p, 'utf8'));
    if (paras.length) docs.push({ id: relative(base, p), paras });
  }
  return docs;
}

// ---- SWORD zText (World English Bible) --------------------------------------------------------------------------
function worldEnglishBible() {
  const dir = join(root, 'sword-text-web/usr/share/sword/modules/texts/ztext/engWEB2015eb');
  const docs = [];
  let cur = { id: 'preface', parts: [] };
  const flush = () => { const paras = paragraphs(cur.parts.join('')); if (paras.length) docs.push({ id: cur.id, paras }); };
  for (const t of ['ot', 'nt']) {
    const bzs = readFileSync(join(dir, `${t}.bzs`)), bzz = readFileSync(join(dir, `${t}.bzz`)), bzv = readFileSync(join(dir, `${t}.bzv`));
    const blocks = [];
    for (let b = 0; b < bzs.length / 12; b++) {
      const off = bzs.readUInt32LE(b * 12), size = bzs.readUInt32LE(b * 12 + 4);
      blocks.push(inflateSync(bzz.subarray(off, off + size)));
    }
    for (let v = 0; v < bzv.length / 10; v++) {             // entries in versification order: block, offset, size
      const b = bzv.readUInt32LE(v * 10), off = bzv.readUInt32LE(v * 10 + 4), size = bzv.readUInt16LE(v * 10 + 8);
      if (size === 0) continue;
      let s = blocks[b].subarray(off, off + size).toString('utf8');
      const ch = /<chapter [^>]*osisID="([^"]+)"/.exec(s);
      if (ch) { flush(); cur = { id: ch[1], parts: [] }; }
      s = s.replace(/<note\b[^>]*>[\s\S]*?<\/note>/g, '').replace(/<title\b[^>]*>[\s\S]*?<\/title>/g, '\n\n')
        .replace(/<div\b[^>]*type="x-p"[^>]*\/>|<lb\b[^>]*\/>|<l\b[^>]*eID[^>]*\/>/g, '\n\n')  // paragraph and poetry-line breaks
        .replace(/<[^>]+>/g, '');
      cur.parts.push(decodeEntities(s), ' ');
    }
  }
  flush();
  return docs;
}

// ---- dictd databases (Jargon File, Devil's Dictionary) ----------------------------------------------------------
const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const b64num = (s) => [...s].reduce((n, c) => n * 64 + B64.indexOf(c), 0);
function dictd(pkg, name, jargon) {
  const dir = join(root, pkg, 'usr/share/dictd');
  const data = gunzipSync(readFileSync(join(dir, `${name}.dict.dz`)));
  const seen = new Set(), docs = [];
  for (const row of readFileSync(join(dir, `${name}.index`), 'utf8').split('\n')) {
    const [word, o, n] = row.split('\t');
    if (!word || n === undefined || word.startsWith('00') || seen.has(o)) continue;
    seen.add(o);
    let s = data.subarray(b64num(o), b64num(o) + b64num(n)).toString('utf8');
    if (jargon) s = s.replace(/^([^\n]*\n)\s*\/[^\n]*\/[^\n]*\n/, '$1').replace(/\{\s*([^{}]*?)\s*\}/g, '$1');
    const paras = paragraphs(s);
    if (paras.length) docs.push({ id: word, paras });
  }
  return docs;
}

// ---- assemble, split, write -------------------------------------------------------------------------------------
const fnv1a = (s) => { let h = 0x811c9dc5; for (const b of Buffer.from(s, 'utf8')) h = Math.imul(h ^ b, 0x01000193) >>> 0; return h; };
const sources = {
  'python3.11-doc': pythonDocs(),
  'sword-text-web': worldEnglishBible(),
  'dict-jargon': dictd('dict-jargon', 'jargon', true),
  'dict-devil': dictd('dict-devil', 'devil', false),
};
const train = [], val = [], manifest = { built: 'node scripts/make-corpus-en.mjs', split: 'document-level: FNV-1a(source/id) % 20 == 0 → val', sources: {} };
for (const [src, docs] of Object.entries(sources)) {
  const st = { package: src, version: versions[src], licence: PACKAGES[src], documents: docs.length, valDocuments: 0, trainBytes: 0, valBytes: 0 };
  for (const d of docs) {
    const text = d.paras.join('\n');
    const isVal = fnv1a(`${src}/${d.id}`) % 20 === 0;
    (isVal ? val : train).push(text);
    if (isVal) { st.valDocuments++; st.valBytes += Buffer.byteLength(text) + 2; } else st.trainBytes += Buffer.byteLength(text) + 2;
  }
  manifest.sources[src] = st;
}
const write = (name, docs) => {
  const s = docs.join('\n\n') + '\n';
  writeFileSync(join(out, `${name}.tmp`), s); renameSync(join(out, `${name}.tmp`), join(out, name));
  return { bytes: Buffer.byteLength(s), sha256: createHash('sha256').update(s).digest('hex') };
};
manifest.files = { 'train.txt': write('train.txt', train), 'val.txt': write('val.txt', val) };
writeFileSync(join(out, 'manifest.json'), JSON.stringify(manifest, null, 1) + '\n');
for (const [src, st] of Object.entries(manifest.sources)) {
  console.log(`${src} ${st.version}: ${st.documents} documents (${st.valDocuments} held out), ${(st.trainBytes / 1e6).toFixed(2)} MB train, ${(st.valBytes / 1e6).toFixed(2)} MB val`);
}
console.log(`train.txt ${manifest.files['train.txt'].bytes} bytes, val.txt ${manifest.files['val.txt'].bytes} bytes → ${out}`);
