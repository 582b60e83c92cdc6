import { posix } from 'node:path';
import { OverlayError } from './errors.js';
import type { BuildStep } from './image-builder.js';

/**
 * A Dockerfile tsbox cannot build: a syntax error, or an instruction or form it does not
 * implement (ADD, EXPOSE, HEALTHCHECK, multi-stage builds, heredocs, `RUN --mount`...).
 * Thrown by {@link parseDockerfile} (and `ImageBuilder.fromDockerfile()`) before anything
 * is built.
 *
 * - `code`: always `ERR_TSBOX_DOCKERFILE`.
 * - `stage`: always `dockerfile.parse`.
 * - `line`: 1-based line of the instruction (its first line when continued with `\`).
 * - `instruction`: the instruction keyword as written upper-cased (`'ADD'`), or `''` when
 *   the error is not about one instruction (an empty Dockerfile).
 */
export class DockerfileError extends OverlayError {
  override readonly name: string = 'DockerfileError';
  declare readonly code: 'ERR_TSBOX_DOCKERFILE';
  constructor(
    readonly line: number,
    readonly instruction: string,
    detail: string,
  ) {
    super(
      'ERR_TSBOX_DOCKERFILE',
      'dockerfile.parse',
      `Dockerfile line ${line}${instruction ? ` (${instruction})` : ''}: ${detail}`,
    );
  }
}

/** Options of {@link parseDockerfile} and `ImageBuilder.fromDockerfile()`. */
export interface DockerfileOptions {
  /** Values for `ARG` instructions (`docker build --build-arg`); they override defaults. */
  buildArgs?: Record<string, string>;
}

/**
 * A parsed Dockerfile: the base image reference (`'scratch'` for none) and the build
 * steps, ready for an `ImageBuilder`. COPY sources are relative to the build context (and
 * checked not to leave it); relative WORKDIR and COPY destinations are resolved at build
 * time, against the working dir of the image built so far, as Docker does.
 */
export interface ParsedDockerfile {
  from: string;
  steps: BuildStep[];
}

/** One instruction: keyword, its arguments with continuations joined, and where it starts. */
export interface DockerfileInstruction {
  line: number;
  /** Upper-cased keyword. */
  keyword: string;
  /** Everything after the keyword, leading blanks removed, `\`-newlines removed. */
  args: string;
}

const UNSUPPORTED: Record<string, string> = {
  ADD: 'ADD is not supported: use COPY (tsbox does not fetch URLs or unpack archives)',
  EXPOSE: 'EXPOSE is not supported: publish ports with Container.publish()',
  HEALTHCHECK: 'HEALTHCHECK is not supported',
  VOLUME: 'VOLUME is not supported: mount volumes with Container.mount()',
  STOPSIGNAL: 'STOPSIGNAL is not supported',
  SHELL: 'SHELL is not supported: shell forms run with /bin/sh -c',
  ONBUILD: 'ONBUILD is not supported',
  MAINTAINER: 'MAINTAINER is not supported: use LABEL',
};

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Splits a Dockerfile into instructions: `\` at the end of a line continues it (the
 * backslash and newline are removed, as Docker does), lines starting with `#` are
 * comments (also inside a continued instruction), blank lines are skipped. Pure.
 *
 * @throws DockerfileError for a `# escape=` parser directive (only `\` is supported).
 */
export function splitInstructions(text: string): DockerfileInstruction[] {
  const lines = text.split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
  const out: DockerfileInstruction[] = [];
  let pending: { line: number; text: string } | undefined;
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i] as string;
    const trimmed = raw.trim();
    if (trimmed.startsWith('#')) {
      if (out.length === 0 && !pending && /^#\s*escape\s*=/i.test(trimmed)) {
        throw new DockerfileError(i + 1, '', 'the escape parser directive is not supported');
      }
      continue;
    }
    if (trimmed === '') continue;
    const continued = /\\[ \t]*$/.exec(raw);
    const part = continued ? raw.slice(0, continued.index) : raw;
    if (pending) pending.text += part;
    else pending = { line: i + 1, text: part.replace(/^\s+/, '') };
    if (continued) continue;
    out.push(toInstruction(pending));
    pending = undefined;
  }
  // A continuation on the last line ends the instruction, as Docker does.
  if (pending) out.push(toInstruction(pending));
  return out;
}

function toInstruction(p: { line: number; text: string }): DockerfileInstruction {
  const m = /^(\S+)\s*([\s\S]*)$/.exec(p.text) as RegExpExecArray;
  return { line: p.line, keyword: (m[1] as string).toUpperCase(), args: (m[2] as string).trim() };
}

/** Variables visible to substitution: a name maps to its value, or `undefined` when unset. */
type Vars = ReadonlyMap<string, string | undefined>;

/**
 * Docker's word processing for FROM, COPY, ENV, ARG, LABEL, WORKDIR and USER: quotes are
 * removed (`'...'` literal, `"..."` with `\` escapes and substitution), `\x` is `x`, and
 * `$NAME`, `${NAME}`, `${NAME:-default}` and `${NAME:+alt}` are substituted (unset is
 * empty). With `split`, unquoted blanks separate words; without, the whole input is one.
 */
class WordLexer {
  private i = 0;
  constructor(
    private readonly s: string,
    private readonly vars: Vars,
    private readonly fail: (detail: string) => never,
  ) {}

  words(split: boolean): string[] {
    const out: string[] = [];
    let cur = '';
    let inWord = false;
    while (this.i < this.s.length) {
      const c = this.s[this.i] as string;
      if (split && /\s/.test(c)) {
        if (inWord) out.push(cur);
        cur = '';
        inWord = false;
        this.i++;
        continue;
      }
      inWord = true;
      if (c === "'") cur += this.singleQuoted();
      else if (c === '"') cur += this.doubleQuoted();
      else if (c === '\\') {
        // A trailing backslash stays literal.
        cur += this.s[this.i + 1] ?? '\\';
        this.i += 2;
      } else if (c === '$') cur += this.dollar();
      else {
        cur += c;
        this.i++;
      }
    }
    if (inWord) out.push(cur);
    return out;
  }

  private singleQuoted(): string {
    const end = this.s.indexOf("'", this.i + 1);
    if (end < 0) this.fail('unterminated single quote');
    const text = this.s.slice(this.i + 1, end);
    this.i = end + 1;
    return text;
  }

  private doubleQuoted(): string {
    let out = '';
    this.i++;
    while (this.i < this.s.length) {
      const c = this.s[this.i] as string;
      if (c === '"') {
        this.i++;
        return out;
      }
      if (
        c === '\\' &&
        this.i + 1 < this.s.length &&
        '"\\$`'.includes(this.s[this.i + 1] as string)
      ) {
        out += this.s[this.i + 1];
        this.i += 2;
      } else if (c === '$') out += this.dollar();
      else {
        out += c;
        this.i++;
      }
    }
    return this.fail('unterminated double quote');
  }

  /** At a `$`: a substitution, or a literal `$` when no name follows. */
  private dollar(): string {
    const rest = this.s.slice(this.i + 1);
    const bare = /^[A-Za-z_][A-Za-z0-9_]*/.exec(rest);
    if (bare) {
      this.i += 1 + bare[0].length;
      return this.vars.get(bare[0]) ?? '';
    }
    if (!rest.startsWith('{')) {
      this.i++;
      return '$';
    }
    // ${...}: find the matching brace, allowing nested ${...} in the default word.
    let depth = 0;
    let end = -1;
    for (let j = this.i + 1; j < this.s.length; j++) {
      const c = this.s[j];
      if (c === '\\') j++;
      else if (c === '{') depth++;
      else if (c === '}' && --depth === 0) {
        end = j;
        break;
      }
    }
    if (end < 0) this.fail(`unterminated \${ in ${JSON.stringify(this.s.slice(this.i))}`);
    const body = this.s.slice(this.i + 2, end);
    this.i = end + 1;
    const m = /^([A-Za-z_][A-Za-z0-9_]*)(?:(:[-+])([\s\S]*))?$/.exec(body);
    if (!m)
      this.fail(
        `unsupported substitution \${${body}}: use $NAME, \${NAME}, \${NAME:-x} or \${NAME:+x}`,
      );
    const value = this.vars.get(m[1] as string);
    const set = value !== undefined && value !== '';
    if (m[2] === undefined) return value ?? '';
    const word = () => new WordLexer(m[3] as string, this.vars, this.fail).words(false).join('');
    if (m[2] === ':-') return set ? value : word();
    return set ? word() : '';
  }
}

/**
 * Parses a Dockerfile into a base reference and build steps. Pure: reads no files.
 *
 * Supported: `FROM <image>` or `FROM scratch` (one stage), `RUN`, `CMD` and `ENTRYPOINT`
 * (shell form runs `/bin/sh -c <text>`; exec form is a JSON array of strings), `COPY
 * <src>... <dest>` (or its JSON form; sources relative to the context, no `..` out of it,
 * no wildcards), `ENV` and `LABEL` (`k=v ...` or the legacy `k value`), `WORKDIR`
 * (relative to the previous one), `USER`, and `ARG name[=default]` (`buildArgs` win;
 * ARGs before `FROM` serve `FROM` only unless declared again after it; an ARG reaches
 * later `RUN`s as an environment variable, not the image). `$VAR`, `${VAR}`,
 * `${VAR:-x}` and `${VAR:+x}` are substituted from ARGs and the Dockerfile's ENVs (ENV
 * wins) in FROM, COPY, ENV, ARG, LABEL, WORKDIR and USER, with Docker's quoting (`'...'`
 * literal, `"..."` and `\` escapes); RUN, CMD and ENTRYPOINT are left to the shell.
 * Lines ending in `\` continue; `#` lines are comments; keywords are case-insensitive.
 *
 * @throws DockerfileError for anything else (ADD, EXPOSE, HEALTHCHECK, VOLUME, SHELL,
 *   multi-stage builds, heredocs, instruction flags, unknown keywords, bad JSON...),
 *   naming the line and instruction.
 */
export function parseDockerfile(text: string, options: DockerfileOptions = {}): ParsedDockerfile {
  return new DockerfileParser(options.buildArgs ?? {}).parse(splitInstructions(text));
}

class DockerfileParser {
  /** ARGs declared before FROM: usable in FROM, and as defaults of a bare ARG after it. */
  private readonly globalArgs = new Map<string, string | undefined>();
  /** ARGs in scope after FROM (also handed to RUN as its environment). */
  private readonly args = new Map<string, string | undefined>();
  /** ENV set by this Dockerfile; wins over an ARG of the same name. */
  private readonly env = new Map<string, string>();
  private from: string | undefined;
  private readonly steps: BuildStep[] = [];
  private at: DockerfileInstruction = { line: 1, keyword: '', args: '' };

  constructor(private readonly buildArgs: Record<string, string>) {}

  parse(instructions: DockerfileInstruction[]): ParsedDockerfile {
    for (const ins of instructions) {
      this.at = ins;
      if (this.from === undefined && ins.keyword !== 'FROM' && ins.keyword !== 'ARG') {
        if (!(ins.keyword in HANDLERS) && !(ins.keyword in UNSUPPORTED)) this.unknown();
        this.fail('the Dockerfile must start with FROM (only ARG may come before it)');
      }
      const handler = HANDLERS[ins.keyword];
      if (handler) handler.call(this, ins.args);
      else if (ins.keyword in UNSUPPORTED) this.fail(UNSUPPORTED[ins.keyword] as string);
      else this.unknown();
    }
    if (this.from === undefined) {
      this.at = { line: instructions[0]?.line ?? 1, keyword: '', args: '' };
      this.fail('no FROM instruction');
    }
    return { from: this.from, steps: this.steps };
  }

  fail(detail: string): never {
    throw new DockerfileError(this.at.line, this.at.keyword, detail);
  }

  private unknown(): never {
    this.fail(`unknown instruction ${this.at.keyword}`);
  }

  /** Variables for substitution: ARGs, overridden by ENV. */
  private vars(): Vars {
    if (this.from === undefined) return this.globalArgs;
    const v = new Map(this.args);
    for (const [k, val] of this.env) v.set(k, val);
    return v;
  }

  words(s: string, split = true): string[] {
    return new WordLexer(s, this.vars(), (d) => this.fail(d)).words(split);
  }

  word(s: string): string {
    return this.words(s, false).join('');
  }

  noFlags(args: string): void {
    const flag = /^--([A-Za-z-]+)/.exec(args);
    if (flag) this.fail(`the --${flag[1]} flag is not supported`);
    if (/<<-?\s*(["']?)[A-Za-z0-9_]+\1/.test(args)) this.fail('heredocs are not supported');
  }

  /**
   * Exec form (a JSON array of strings) or shell form (`/bin/sh -c <text>`). Input that
   * starts with `[` followed by `"` or `]` is taken as meant to be JSON and must parse;
   * anything else (`[ -f x ] && ...`) is shell form, as in Docker.
   */
  command(args: string, allowEmpty: boolean): string[] {
    let argv: string[];
    if (/^\[\s*["\]]/.test(args)) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(args);
      } catch (err) {
        this.fail(`invalid JSON array: ${(err as Error).message}`);
      }
      if (!Array.isArray(parsed) || !parsed.every((x) => typeof x === 'string')) {
        this.fail('the exec form must be a JSON array of strings');
      }
      argv = parsed;
    } else {
      argv = args === '' ? [] : ['/bin/sh', '-c', args];
    }
    if (argv.length === 0 && !allowEmpty) this.fail('a command is required');
    if (argv.length > 0 && argv[0] === '') this.fail('the command must not be empty');
    return argv;
  }

  /** `k=v ...`, or the legacy `k value with blanks` (ENV and LABEL). */
  pairs(args: string): Record<string, string> {
    if (args === '') this.fail('needs at least one name=value pair');
    const first = /^\S+/.exec(args)?.[0] as string;
    const out: Record<string, string> = {};
    if (!first.includes('=')) {
      const rest = args.slice(first.length).trim();
      if (rest === '') this.fail(`${first} needs a value: use ${first}=value`);
      out[this.word(first)] = this.word(rest);
      return out;
    }
    for (const w of this.words(args)) {
      const eq = w.indexOf('=');
      if (eq <= 0) this.fail(`expected name=value, got ${JSON.stringify(w)}`);
      out[w.slice(0, eq)] = w.slice(eq + 1);
    }
    return out;
  }

  setFrom(args: string): void {
    if (this.from !== undefined) this.fail('multi-stage builds (a second FROM) are not supported');
    this.noFlags(args);
    const w = this.words(args);
    if (w.length === 3 && w[1]?.toUpperCase() === 'AS') {
      this.fail('multi-stage builds (FROM ... AS name) are not supported');
    }
    if (w.length !== 1 || w[0] === '') this.fail('expected FROM <image> or FROM scratch');
    this.from = w[0] as string;
  }

  arg(args: string): void {
    const words = this.words(args);
    if (words.length === 0) this.fail('expected ARG <name>[=<default>]');
    for (const w of words) {
      const eq = w.indexOf('=');
      const name = eq < 0 ? w : w.slice(0, eq);
      if (!NAME.test(name)) this.fail(`invalid ARG name ${JSON.stringify(name)}`);
      const fallback = eq < 0 ? this.globalArgs.get(name) : w.slice(eq + 1);
      const value = Object.hasOwn(this.buildArgs, name) ? this.buildArgs[name] : fallback;
      (this.from === undefined ? this.globalArgs : this.args).set(name, value);
    }
  }

  run(args: string): void {
    this.noFlags(args);
    const argv = this.command(args, false);
    // ARGs reach RUN as environment variables (not kept in the image); ENV wins.
    const env: Record<string, string> = {};
    for (const [k, v] of this.args) if (v !== undefined && !this.env.has(k)) env[k] = v;
    this.steps.push(
      Object.keys(env).length > 0 ? { kind: 'run', argv, env } : { kind: 'run', argv },
    );
  }

  copy(args: string): void {
    this.noFlags(args);
    const list = /^\[\s*"/.test(args)
      ? this.command(args, false).map((s) => this.word(s))
      : this.words(args);
    if (list.length < 2) this.fail('expected COPY <src>... <dest>');
    const dest = list.pop() as string;
    if (list.length > 1 && !dest.endsWith('/')) {
      this.fail('with more than one source the destination must be a directory ending in /');
    }
    const sources = list.map((src) => {
      if (/[*?[]/.test(src)) this.fail(`wildcards are not supported: ${src}`);
      const rel = posix.normalize(src.replace(/^\/+/, '') || '.').replace(/(.)\/+$/, '$1');
      if (rel === '..' || rel.startsWith('../')) {
        this.fail(`${src} is outside the build context`);
      }
      return rel;
    });
    this.steps.push({ kind: 'copy', sources, dest });
  }

  setEnv(args: string): void {
    const vars = this.pairs(args);
    for (const [k, v] of Object.entries(vars)) {
      if (!NAME.test(k)) this.fail(`invalid ENV name ${JSON.stringify(k)}`);
      this.env.set(k, v);
    }
    this.steps.push({ kind: 'env', vars });
  }

  label(args: string): void {
    this.steps.push({ kind: 'label', labels: this.pairs(args) });
  }

  workdir(args: string): void {
    const dir = this.word(args);
    if (dir === '') this.fail('expected WORKDIR <path>');
    this.steps.push({ kind: 'workdir', dir });
  }

  user(args: string): void {
    const user = this.word(args);
    if (user === '' || /\s/.test(user)) this.fail('expected USER <user>[:<group>]');
    this.steps.push({ kind: 'user', user });
  }

  cmd(args: string): void {
    this.steps.push({ kind: 'cmd', argv: this.command(args, true) });
  }

  entrypoint(args: string): void {
    this.steps.push({ kind: 'entrypoint', argv: this.command(args, true) });
  }
}

const HANDLERS: Record<string, (this: DockerfileParser, args: string) => void> = {
  FROM: DockerfileParser.prototype.setFrom,
  ARG: DockerfileParser.prototype.arg,
  RUN: DockerfileParser.prototype.run,
  COPY: DockerfileParser.prototype.copy,
  ENV: DockerfileParser.prototype.setEnv,
  LABEL: DockerfileParser.prototype.label,
  WORKDIR: DockerfileParser.prototype.workdir,
  USER: DockerfileParser.prototype.user,
  CMD: DockerfileParser.prototype.cmd,
  ENTRYPOINT: DockerfileParser.prototype.entrypoint,
};
