import { isInvalidArgument } from '@strata/kit';
import { describe, expect, it } from 'vitest';
import { HEADER_FUNCTIONS, parseTemplate, sprintf } from './go-template.js';

/** Shaped like `strata inspect`'s JSON. */
const container = {
  Id: 'f00dfeed',
  Name: '/web',
  State: { Status: 'running', Running: true, ExitCode: 0, Pid: 42 },
  Config: {
    Env: ['A=1', 'PATH=/bin'],
    Cmd: null,
    Labels: { 'com.example.app': 'shop', tier: 'front' },
    Tty: false,
  },
  NetworkSettings: {
    Ports: {
      '80/tcp': [{ HostIp: '0.0.0.0', HostPort: '37361' }],
      '443/tcp': null,
    },
  },
  Mounts: [],
  Label: (name: unknown) => ({ tier: 'front' })[name as string] ?? '',
};

const run = (template: string, data: unknown = container) => parseTemplate(template).execute(data);

describe('parseTemplate(...).execute', () => {
  it.each([
    ['plain text', 'hello', 'hello'],
    ['a field', '{{.Id}}', 'f00dfeed'],
    ['a field chain', '{{.State.Status}}', 'running'],
    ['a number field', '{{.State.Pid}}', '42'],
    ['a bool field', '{{.State.Running}}', 'true'],
    ['text around actions', 'id={{.Id}} pid={{.State.Pid}}!', 'id=f00dfeed pid=42!'],
    ['spaces inside the braces', '{{ .Id }}', 'f00dfeed'],
    ['dot on a string', '{{range .Config.Env}}[{{.}}]{{end}}', '[A=1][PATH=/bin]'],
    ['a list as Go prints it', '{{.Config.Env}}', '[A=1 PATH=/bin]'],
    ['an object as Go prints a map, keys sorted', '{{.State}}', 'map[ExitCode:0 Pid:42 Running:true Status:running]'],
    ['null as Go prints nil', '{{.Config.Cmd}}', '<nil>'],
    ['index of a map key', '{{index .Config.Labels "com.example.app"}}', 'shop'],
    ['index of a missing key', '{{index .Config.Labels "nope"}}', '<no value>'],
    ['index of null', '{{index .Config.Cmd "x"}}', '<no value>'],
    ['index of a list', '{{index .Config.Env 1}}', 'PATH=/bin'],
    ['index through two levels', '{{index .NetworkSettings.Ports "80/tcp" 0}}', 'map[HostIp:0.0.0.0 HostPort:37361]'],
    ['a field of a parenthesized pipeline', '{{(index .NetworkSettings.Ports "80/tcp" 0).HostPort}}', '37361'],
    ['json of a list', '{{json .Config.Env}}', '["A=1","PATH=/bin"]'],
    ['json of an object', '{{json .State}}', '{"Status":"running","Running":true,"ExitCode":0,"Pid":42}'],
    ['json of null', '{{json .Config.Cmd}}', 'null'],
    ['json leaves methods out', '{{json .Mounts}}', '[]'],
    ['join', '{{join .Config.Env ","}}', 'A=1,PATH=/bin'],
    ['split', '{{index (split "a:b:c" ":") 2}}', 'c'],
    ['lower and upper', '{{lower "AbC"}} {{upper "AbC"}}', 'abc ABC'],
    ['title', '{{title "hello big-world"}}', 'Hello Big-World'],
    ['truncate', '{{truncate .Id 3}}', 'f00'],
    ['truncate past the end', '{{truncate .Id 30}}', 'f00dfeed'],
    ['len of a string, list and map', '{{len .Id}} {{len .Config.Env}} {{len .Config.Labels}}', '8 2 2'],
    ['println', '{{println .Id .State.Pid}}', 'f00dfeed 42\n'],
    ['print', '{{print "a" 1 2 "b"}}', 'a1 2b'],
    ['printf %s %d %v', '{{printf "%s has %d (%v)" .Name .State.Pid .State.Running}}', '/web has 42 (true)'],
    ['printf width and -', '{{printf "[%5s][%-5s][%03d]" "ab" "ab" 7}}', '[   ab][ab   ][007]'],
    ['a pipeline', '{{.State.Status | upper}}', 'RUNNING'],
    ['a pipeline into a function with arguments', '{{.Name | printf "%s!"}}', '/web!'],
    ['a longer pipeline', '{{join .Config.Env "+" | lower | printf "%s."}}', 'a=1+path=/bin.'],
    ['if true', '{{if .State.Running}}up{{end}}', 'up'],
    ['if false with else', '{{if .Config.Tty}}tty{{else}}no tty{{end}}', 'no tty'],
    ['else if', '{{if .Config.Tty}}a{{else if .State.Running}}b{{else}}c{{end}}', 'b'],
    ['an empty list is false', '{{if .Mounts}}mounts{{else}}none{{end}}', 'none'],
    ['null is false', '{{if .Config.Cmd}}cmd{{else}}no cmd{{end}}', 'no cmd'],
    ['0 and "" are false', '{{if .State.ExitCode}}x{{end}}{{if ""}}y{{end}}', ''],
    ['eq and ne', '{{if eq .State.Status "running" "paused"}}live{{end}}{{if ne .State.Pid 0}}!{{end}}', 'live!'],
    ['lt, and, or, not', '{{if and (lt 1 2) (or false .State.Running) (not .Config.Tty)}}ok{{end}}', 'ok'],
    ['range over a list with index and value', '{{range $i, $e := .Config.Env}}{{$i}}={{$e}};{{end}}', '0=A=1;1=PATH=/bin;'],
    ['range over a map in key order', '{{range $k, $v := .Config.Labels}}{{$k}}:{{$v}} {{end}}', 'com.example.app:shop tier:front '],
    [
      'range over published ports, as Docker users write it',
      '{{range $p, $conf := .NetworkSettings.Ports}}{{$p}} -> {{if $conf}}{{(index $conf 0).HostPort}}{{else}}-{{end}}\n{{end}}',
      '443/tcp -> -\n80/tcp -> 37361\n',
    ],
    ['range else on an empty list', '{{range .Mounts}}m{{else}}no mounts{{end}}', 'no mounts'],
    ['range over null runs else', '{{range .Config.Cmd}}c{{else}}none{{end}}', 'none'],
    ['range with one variable gets the element', '{{range $e := .Config.Env}}{{$e}} {{end}}', 'A=1 PATH=/bin '],
    ['a variable', '{{$n := .Name}}{{$n}}{{$n}}', '/web/web'],
    ['a variable assigned again', '{{$n := 1}}{{$n = 2}}{{$n}}', '2'],
    ['a variable assigned inside if keeps its value after it', '{{$n := 1}}{{if true}}{{$n = 2}}{{end}}{{$n}}', '2'],
    ['trimmed else', '{{if .Config.Tty}}a{{- else -}}  b  {{- end}}', 'b'],
    ['$ is the data inside range', '{{range .Config.Env}}{{$.Id}} {{end}}', 'f00dfeed f00dfeed '],
    ['a field of a variable', '{{$s := .State}}{{$s.Status}}', 'running'],
    ['with sets dot', '{{with .State}}{{.Status}}/{{.Pid}}{{end}}', 'running/42'],
    ['with else', '{{with .Config.Cmd}}{{.}}{{else}}no cmd{{end}}', 'no cmd'],
    ['a method with an argument', '{{.Label "tier"}}', 'front'],
    ['a method in a pipeline', '{{"tier" | .Label}}', 'front'],
    ['trim markers', 'a  {{- .Id -}}  \n b', 'af00dfeedb'],
    ['trim across lines', '{{range .Config.Env -}}\n  {{.}}\n{{- end}}', 'A=1PATH=/bin'],
    ['a negative number is no trim marker', '{{-3}}', '-3'],
    ['a comment', 'a{{/* ignored */}}b{{- /* trimmed */ -}} c', 'abc'],
    ['Go escapes in a string', '{{"a\\tb\\n\\"q\\"\\\\"}}', 'a\tb\n"q"\\'],
    ['a raw string keeps backslashes', '{{`a\\tb`}}', 'a\\tb'],
    ['a "}}" inside a string', '{{"}}"}}', '}}'],
    ['a character constant is its code', "{{'a'}}", '97'],
    ['numbers', '{{1.5}} {{0x10}} {{1_000}}', '1.5 16 1000'],
    ['nil', '{{if nil}}x{{else}}nil is false{{end}}', 'nil is false'],
    ['a \\t written as two characters stays two', '{{.Id}}\\t{{.Name}}', 'f00dfeed\\t/web'],
  ])('%s', (_name, template, expected) => {
    expect(run(template)).toBe(expected);
  });

  it('runs the same template on many values', () => {
    const t = parseTemplate('{{.ID}}\t{{.Names}}');
    expect([{ ID: 'a', Names: 'x' }, { ID: 'b', Names: 'y' }].map((row) => t.execute(row))).toEqual(['a\tx', 'b\ty']);
  });

  it('runs with functions replaced, as Docker heads a table', () => {
    const t = parseTemplate('{{.Names | upper}} {{json .ID}} {{truncate .ID 2}}');
    expect(t.execute({ Names: 'NAMES', ID: 'CONTAINER ID' }, { functions: HEADER_FUNCTIONS })).toBe('NAMES CONTAINER ID CONTAINER ID');
  });

  it('keeps a variable declared in an if inside it', () => {
    expect(() => parseTemplate('{{if $x := .A}}{{$x}}{{end}}{{$x}}')).toThrow('undefined variable "$x"');
  });
});

describe('template errors', () => {
  it.each([
    ['a missing field, naming it and the fields there are', '{{.Nope}}', 'template: :1:2: executing at <.Nope>: can\'t evaluate field Nope (the fields of . are Id, Name, State, Config, NetworkSettings, Mounts, Label)'],
    ['a missing nested field', 'x\n{{.State.Stauts}}', 'template: :2:2: executing at <.State.Stauts>: can\'t evaluate field Stauts (the fields of .State are Status, Running, ExitCode, Pid)'],
    ['a missing field of a variable', '{{$s := .State}}{{$s.Nope}}', "executing at <$s.Nope>: can't evaluate field Nope (the fields of $s are"],
    ['a field of null', '{{.Config.Cmd.X}}', 'executing at <.Config.Cmd.X>: nil pointer evaluating .Config.Cmd.X'],
    ['a field of a list', '{{.Config.Env.X}}', "can't evaluate field X in type list"],
    ['a field of a string', '{{.Id.X}}', "can't evaluate field X in type string"],
    ['an index out of range', '{{index .Config.Env 5}}', 'executing at <index .Config.Env 5>: error calling index: index out of range: 5'],
    ['a function given the wrong type', '{{upper .State.Pid}}', 'error calling upper: wrong type for value; expected string; got int'],
    ['arguments to a field', '{{.Id "x"}}', 'Id is not a method but has arguments'],
    ['arguments to a constant', '{{"a" "b"}}', 'can\'t give argument to non-function "a"'],
    ['a comparison of different types', '{{eq .State.Pid "42"}}', 'error calling eq: incompatible types for comparison: int and string'],
    ['a piped value going last, as in Go', '{{.Config.Env | join "+"}}', 'error calling join: wrong type for value; expected list; got string'],
    ['range over a string', '{{range .Id}}{{end}}', "range can't iterate over f00dfeed"],
  ])('%s', (_name, template, message) => {
    let caught: unknown;
    try {
      run(template);
    } catch (err) {
      caught = err;
    }
    expect(isInvalidArgument(caught)).toBe(true);
    expect((caught as Error).message).toContain(message);
  });

  it.each([
    ['an unclosed action', 'a {{.Id', 'template parsing error: template: :1:2: unclosed action'],
    ['an unknown function', '{{.Id | nope}}', 'template parsing error: template: :1:8: function "nope" not defined'],
    ['an undefined variable', '{{$x}}', 'template parsing error: template: :1:2: undefined variable "$x"'],
    ['an if without end', '{{if .A}}x', 'template parsing error: template: :1:2: unexpected EOF: {{if}} has no {{end}}'],
    ['an end without if', 'x{{end}}', 'template parsing error: template: :1:1: unexpected {{end}}'],
    ['an empty action', '{{}}', 'missing value for command'],
    ['an empty command in a pipeline', '{{.A | }}', 'missing value for command'],
    ['an unterminated string', '{{"abc}}', 'unterminated quoted string'],
    ['a bad escape', '{{"\\q"}}', 'invalid escape \\q in quoted string'],
    ['an unclosed paren', '{{(.A}}', 'unclosed left paren'],
    ['a stray right paren', '{{.A)}}', 'unexpected right paren'],
    ['a character Go does not know', '{{.A # .B}}', 'unrecognized character in action: "#"'],
    ['operands without a space', '{{.A"x"}}', 'missing space before "\\"x\\""'],
    ['define, which --format does not take', '{{define "x"}}{{end}}', '{{define}} is not supported'],
    ['an unclosed comment', '{{/* x', 'unclosed comment'],
    ['the position on a later line', 'a\nb {{nope}}', 'template: :2:4: function "nope" not defined'],
  ])('%s', (_name, template, message) => {
    let caught: unknown;
    try {
      parseTemplate(template);
    } catch (err) {
      caught = err;
    }
    expect(isInvalidArgument(caught)).toBe(true);
    expect((caught as Error).message).toContain(message);
  });
});

describe('sprintf', () => {
  it.each([
    ['%s and %d', ['%s=%d', 'a', 1], 'a=1'],
    ['%v of a list', ['%v', ['a', 1]], '[a 1]'],
    ['%q', ['%q', 'a"b'], '"a\\"b"'],
    ['%5.2f', ['%5.2f', 3.14159], ' 3.14'],
    ['%x', ['%x', 255], 'ff'],
    ['%%', ['100%%'], '100%'],
    ['a missing argument', ['%s %d', 'a'], 'a %!d(MISSING)'],
    ['an extra argument', ['%s', 'a', 2], 'a%!(EXTRA int=2)'],
    ['%d of a string', ['%d', 'x'], '%!d(string=x)'],
  ])('%s', (_name, [format, ...args], expected) => {
    expect(sprintf(format as string, ...args)).toBe(expected);
  });
});
