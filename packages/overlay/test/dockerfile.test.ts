// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Dockerfile text, where ${VAR} is substitution.
// The Dockerfile parser: pure, no files, no root.
import { describe, expect, it } from 'vitest';
import {
  type BuildStep,
  DockerfileError,
  ImageBuilder,
  OverlayError,
  parseDockerfile,
  splitInstructions,
} from '../src/index.js';

const steps = (text: string, buildArgs?: Record<string, string>): BuildStep[] =>
  parseDockerfile(text, buildArgs ? { buildArgs } : {}).steps;

/** The error a Dockerfile fails with (the test fails if it parses). */
function failure(text: string, buildArgs?: Record<string, string>): DockerfileError {
  try {
    parseDockerfile(text, buildArgs ? { buildArgs } : {});
  } catch (err) {
    expect(err).toBeInstanceOf(DockerfileError);
    return err as DockerfileError;
  }
  throw new Error(`parsed without error:\n${text}`);
}

describe('splitting into instructions', () => {
  it('joins continuations, skips comments and blank lines, keeps the first line number', () => {
    const text = [
      '# syntax comment',
      '',
      'from busybox',
      'RUN echo a && \\',
      '  # a comment inside the continuation',
      '',
      '    echo b \\  ',
      '    && echo c',
      '  run   true',
      'CMD x \\',
    ].join('\r\n');
    expect(splitInstructions(text)).toEqual([
      { line: 3, keyword: 'FROM', args: 'busybox' },
      { line: 4, keyword: 'RUN', args: 'echo a &&     echo b     && echo c' },
      { line: 9, keyword: 'RUN', args: 'true' },
      { line: 10, keyword: 'CMD', args: 'x' },
    ]);
  });

  it('refuses the escape directive', () => {
    const e = failure('# escape=`\nFROM x');
    expect(e.line).toBe(1);
    expect(e.message).toMatch(/escape/);
  });
});

describe('instructions', () => {
  it('FROM is an image reference or scratch, with keywords in any case', () => {
    expect(parseDockerfile('FROM busybox:1.36').from).toBe('busybox:1.36');
    expect(parseDockerfile('from scratch\ncopy a /a').from).toBe('scratch');
    expect(parseDockerfile('ARG V=2\nFROM my/img:$V').from).toBe('my/img:2');
    expect(parseDockerfile('ARG V=2\nFROM my/img:${V}', { buildArgs: { V: '3' } }).from).toBe(
      'my/img:3',
    );
  });

  it('RUN, CMD and ENTRYPOINT in shell form run /bin/sh -c, in exec form the JSON argv', () => {
    expect(
      steps(
        [
          'FROM x',
          'RUN echo $HOME > /f',
          'RUN ["/bin/echo", "a b", "$HOME"]',
          'RUN [ -f /etc/passwd ] && echo yes',
          'CMD ["cat", "/f"]',
          'CMD cat /f',
          'ENTRYPOINT ["/bin/sh", "-c"]',
          'ENTRYPOINT exec top -b',
          'CMD []',
        ].join('\n'),
      ),
    ).toEqual([
      // No substitution in RUN/CMD/ENTRYPOINT: the shell does it, or nobody (exec form).
      { kind: 'run', argv: ['/bin/sh', '-c', 'echo $HOME > /f'] },
      { kind: 'run', argv: ['/bin/echo', 'a b', '$HOME'] },
      { kind: 'run', argv: ['/bin/sh', '-c', '[ -f /etc/passwd ] && echo yes'] },
      { kind: 'cmd', argv: ['cat', '/f'] },
      { kind: 'cmd', argv: ['/bin/sh', '-c', 'cat /f'] },
      { kind: 'entrypoint', argv: ['/bin/sh', '-c'] },
      { kind: 'entrypoint', argv: ['/bin/sh', '-c', 'exec top -b'] },
      { kind: 'cmd', argv: [] },
    ]);
  });

  it('COPY takes one or more context-relative sources and a destination', () => {
    expect(
      steps(
        [
          'FROM x',
          'COPY app.sh /srv/',
          'COPY a b/ ./c /opt/',
          'COPY . .',
          'COPY /abs/in/context rel',
          'COPY ["with space.txt", "/dst dir/"]',
          'COPY x/../y /y',
        ].join('\n'),
      ),
    ).toEqual([
      { kind: 'copy', sources: ['app.sh'], dest: '/srv/' },
      { kind: 'copy', sources: ['a', 'b', 'c'], dest: '/opt/' },
      { kind: 'copy', sources: ['.'], dest: '.' },
      { kind: 'copy', sources: ['abs/in/context'], dest: 'rel' },
      { kind: 'copy', sources: ['with space.txt'], dest: '/dst dir/' },
      { kind: 'copy', sources: ['y'], dest: '/y' },
    ]);
  });

  it('ENV and LABEL take k=v pairs (quoted, escaped) and the legacy `k value` form', () => {
    expect(
      steps(
        [
          'FROM x',
          'ENV A=1 B="two words" C=three\\ words D=\'$A\'',
          'ENV LEGACY value with   blanks',
          'LABEL org.example.v=1 "quoted key"=x',
          'LABEL legacy the rest',
        ].join('\n'),
      ),
    ).toEqual([
      { kind: 'env', vars: { A: '1', B: 'two words', C: 'three words', D: '$A' } },
      { kind: 'env', vars: { LEGACY: 'value with   blanks' } },
      { kind: 'label', labels: { 'org.example.v': '1', 'quoted key': 'x' } },
      { kind: 'label', labels: { legacy: 'the rest' } },
    ]);
  });

  it('WORKDIR and USER take one word; relative WORKDIR stays relative until build time', () => {
    expect(steps('FROM x\nWORKDIR /srv\nWORKDIR app\nUSER 1000:1000\nUSER app')).toEqual([
      { kind: 'workdir', dir: '/srv' },
      { kind: 'workdir', dir: 'app' },
      { kind: 'user', user: '1000:1000' },
      { kind: 'user', user: 'app' },
    ]);
  });
});

describe('ARG and substitution', () => {
  it('substitutes $VAR, ${VAR}, ${VAR:-x}, ${VAR:+x}; ENV wins over ARG; unset is empty', () => {
    expect(
      steps(
        [
          'FROM x',
          'ARG NAME=world',
          'ARG EMPTY=',
          'ARG UNSET',
          'ENV GREETING="hello $NAME" DIR=/srv/${NAME}',
          'ENV D1=${UNSET:-dflt} D2=${EMPTY:-e} D3=${NAME:-no} A1=${NAME:+alt} A2=${UNSET:+alt}',
          "ENV U=[$UNSET] LIT=\\$NAME SQ='${NAME}' DOLLAR=a$ NEST=${UNSET:-${NAME}!}",
          'ENV NAME=env',
          'WORKDIR $DIR/$NAME',
          'USER ${NAME}',
          'LABEL who=$NAME',
          'COPY $NAME.txt ${DIR}/',
        ].join('\n'),
      ),
    ).toEqual([
      { kind: 'env', vars: { GREETING: 'hello world', DIR: '/srv/world' } },
      { kind: 'env', vars: { D1: 'dflt', D2: 'e', D3: 'world', A1: 'alt', A2: '' } },
      { kind: 'env', vars: { U: '[]', LIT: '$NAME', SQ: '${NAME}', DOLLAR: 'a$', NEST: 'world!' } },
      { kind: 'env', vars: { NAME: 'env' } },
      { kind: 'workdir', dir: '/srv/world/env' },
      { kind: 'user', user: 'env' },
      { kind: 'label', labels: { who: 'env' } },
      { kind: 'copy', sources: ['env.txt'], dest: '/srv/world/' },
    ]);
  });

  it('an ENV line sees the values from before it, as in Docker', () => {
    expect(steps('FROM x\nENV A=1\nENV A=2 B=$A')).toEqual([
      { kind: 'env', vars: { A: '1' } },
      { kind: 'env', vars: { A: '2', B: '1' } },
    ]);
  });

  it('buildArgs override defaults; ARGs reach RUN as its environment, not the image', () => {
    const s = steps(
      'FROM x\nARG V=1\nARG W\nARG NONE\nRUN echo $V $W\nENV V=fromenv\nRUN echo $V',
      { V: '9', W: 'w', UNUSED: 'u' },
    );
    expect(s).toEqual([
      { kind: 'run', argv: ['/bin/sh', '-c', 'echo $V $W'], env: { V: '9', W: 'w' } },
      { kind: 'env', vars: { V: 'fromenv' } },
      { kind: 'run', argv: ['/bin/sh', '-c', 'echo $V'], env: { W: 'w' } },
    ]);
    // No ARG in scope: no env at all.
    expect(steps('FROM x\nRUN true')).toEqual([{ kind: 'run', argv: ['/bin/sh', '-c', 'true'] }]);
  });

  it('ARGs before FROM are for FROM only, unless declared again after it', () => {
    expect(
      steps('ARG TAG=1\nARG OTHER=o\nFROM img:$TAG\nARG TAG\nENV T=$TAG O=[$OTHER]', {
        TAG: '2',
      }),
    ).toEqual([{ kind: 'env', vars: { T: '2', O: '[]' } }]);
    expect(steps('ARG TAG=1\nFROM img:$TAG\nARG TAG\nENV T=$TAG')).toEqual([
      { kind: 'env', vars: { T: '1' } },
    ]);
  });
});

describe('errors name the line and the instruction', () => {
  const cases: Array<[string, string, number, string, RegExp]> = [
    ['ADD', 'FROM x\nADD a /a', 2, 'ADD', /ADD is not supported/],
    ['EXPOSE', 'FROM x\n\nEXPOSE 80', 3, 'EXPOSE', /EXPOSE is not supported/],
    ['HEALTHCHECK', 'FROM x\nHEALTHCHECK CMD true', 2, 'HEALTHCHECK', /not supported/],
    ['VOLUME', 'FROM x\nvolume /data', 2, 'VOLUME', /not supported/],
    ['SHELL', 'FROM x\nSHELL ["/bin/bash", "-c"]', 2, 'SHELL', /not supported/],
    ['unknown keyword', 'FROM x\nFROBNICATE now', 2, 'FROBNICATE', /unknown instruction/],
    ['multi-stage AS', 'FROM x AS build\nRUN true', 1, 'FROM', /multi-stage/],
    ['second FROM', 'FROM x\nRUN true\nFROM y', 3, 'FROM', /multi-stage/],
    ['FROM flag', 'FROM --platform=linux/arm64 x', 1, 'FROM', /--platform/],
    ['heredoc', 'FROM x\nRUN <<EOF\necho hi\nEOF', 2, 'RUN', /heredoc/],
    ['COPY heredoc', 'FROM x\nCOPY <<EOF /f\nhi\nEOF', 2, 'COPY', /heredoc/],
    ['RUN --mount', 'FROM x\nRUN --mount=type=cache,target=/c true', 2, 'RUN', /--mount/],
    ['COPY --from', 'FROM x\nCOPY --from=build /a /a', 2, 'COPY', /--from/],
    ['COPY --chown', 'FROM x\nCOPY --chown=1:1 a /a', 2, 'COPY', /--chown/],
    ['bad JSON', 'FROM x\nCMD ["a", b]', 2, 'CMD', /invalid JSON/],
    ['JSON not strings', 'FROM x\nRUN ["a", 1]', 2, 'RUN', /array of strings/],
    ['empty exec RUN', 'FROM x\nRUN []', 2, 'RUN', /command is required/],
    ['empty RUN', 'FROM x\nRUN', 2, 'RUN', /command is required/],
    ['no FROM', '# c\nRUN true', 2, 'RUN', /must start with FROM/],
    ['empty file', '# only a comment\n', 1, '', /no FROM/],
    ['only ARG', 'ARG A=1', 1, '', /no FROM/],
    ['COPY one word', 'FROM x\nCOPY a', 2, 'COPY', /COPY <src>/],
    ['COPY escape', 'FROM x\nCOPY ../secret /s', 2, 'COPY', /outside the build context/],
    ['COPY escape deep', 'FROM x\nCOPY a/../../s /s', 2, 'COPY', /outside the build context/],
    ['COPY many to file', 'FROM x\nCOPY a b /file', 2, 'COPY', /ending in \//],
    ['COPY wildcard', 'FROM x\nCOPY *.txt /d/', 2, 'COPY', /wildcards/],
    ['ENV missing =', 'FROM x\nENV A=1 B', 2, 'ENV', /name=value/],
    ['ENV no value', 'FROM x\nENV A', 2, 'ENV', /needs a value/],
    ['ENV bad name', 'FROM x\nENV 1A=x', 2, 'ENV', /invalid ENV name/],
    ['ARG bad name', 'FROM x\nARG a-b=1', 2, 'ARG', /invalid ARG name/],
    ['unterminated quote', 'FROM x\nENV A="x', 2, 'ENV', /unterminated double quote/],
    ['unterminated brace', 'FROM x\nWORKDIR ${A', 2, 'WORKDIR', /unterminated/],
    ['bad substitution', 'FROM x\nARG A\nUSER ${A#x}', 3, 'USER', /unsupported substitution/],
    ['USER blank', 'FROM x\nUSER a b', 2, 'USER', /USER <user>/],
    ['continued line', 'FROM x\nRUN echo \\\n  a\nADD \\\n a b', 4, 'ADD', /ADD/],
  ];
  for (const [what, text, line, instruction, message] of cases) {
    it(what, () => {
      const e = failure(text);
      expect(e).toMatchObject({ code: 'ERR_TSBOX_DOCKERFILE', stage: 'dockerfile.parse' });
      expect({ line: e.line, instruction: e.instruction }).toEqual({ line, instruction });
      expect(e.message).toMatch(message);
      expect(e.message).toContain(`Dockerfile line ${line}`);
      if (instruction) expect(e.message).toContain(instruction);
    });
  }
});

describe('ImageBuilder.fromDockerfile', () => {
  it('gives a builder whose COPY steps carry the context dir', () => {
    const b = ImageBuilder.fromDockerfile('FROM base:1\nCOPY a /a\nCMD ["a"]', '/tmp');
    expect(b.base).toBe('base:1');
    expect(b.steps).toEqual([
      { kind: 'copy', sources: ['a'], dest: '/a', context: '/tmp' },
      { kind: 'cmd', argv: ['a'] },
    ]);
  });

  it('refuses a context that is not a directory, and parse errors come first', () => {
    expect(() => ImageBuilder.fromDockerfile('FROM x', '/nonexistent/ctx')).toThrow(OverlayError);
    expect(() => ImageBuilder.fromDockerfile('ADD x y', '/nonexistent/ctx')).toThrow(
      DockerfileError,
    );
  });
});
