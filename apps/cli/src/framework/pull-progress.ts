import { UnpackStatus, type UnpackResponse } from '@strata/api/diff/v1';
import { LayerStatus, type LayerProgress, type PullResponse } from '@strata/api/images/v1';
import { parseReference } from '@strata/oci';
import { humanSize, shortId } from './human-units.js';

/** Settings of {@link createPullProgress}. */
export interface PullProgressOptions {
  out: { write(text: string): unknown };
  /**
   * True on a terminal: one line per layer, redrawn in place with a
   * progress bar while it downloads. False: a plain line each time a layer
   * changes state, and no escape codes.
   */
  tty: boolean;
  /** Width of the terminal; lines are kept shorter than it (the bar goes first). */
  columns?: number;
  /**
   * True when the pull is followed by an unpack into this host's
   * snapshotter: a downloaded layer then stays at `Download complete` until
   * its unpack says `Extracting` and `Pull complete`, and the summary waits
   * for {@link PullProgress.finish}.
   */
  unpack?: boolean;
}

/** Renders the events of one `Images.Pull` stream as `docker pull` does. */
export interface PullProgress {
  /**
   * Writes what event changes: the `<tag>: Pulling from <repository>` line
   * on RESOLVING, a layer's line on LAYER (`<short digest>: Downloading
   * [===>  ] 1.2MB/4.5MB`, `Pull complete`, `Already exists`…), and the
   * `Digest:`, `Status:` and full reference lines on DONE (held back for
   * {@link finish} when the pull unpacks). Events without a case or with an
   * unknown layer status are ignored.
   */
  update(event: PullResponse): void;
  /**
   * Writes what an event of the snapshotter's `Diff.Unpack` changes on the
   * line of its layer: APPLYING is `Extracting`, COMMITTED `Pull complete`;
   * a layer already unpacked (EXISTS) keeps its line as it is.
   */
  unpack(event: UnpackResponse): void;
  /** Writes the summary lines held back from DONE, once; nothing when there are none. */
  finish(): void;
}

/** Cells of the bar between its brackets, as Docker draws it. */
const BAR_WIDTH = 50;
const ESC = '\x1b[';

interface LayerLine {
  /** Row of the layer among the rows written so far (tty only). */
  row: number;
  status: LayerStatus;
  /** What the line says, without the progress numbers. */
  state: string;
  /** The whole line as last drawn. */
  drawn: string;
}

/** `docker.io/library/busybox:latest` → `busybox:latest`; the text itself when it does not parse. */
function familiar(ref: string): string {
  try {
    return parseReference(ref).familiar();
  } catch {
    return ref;
  }
}

function stateOf(layer: LayerProgress, previous: LayerLine | undefined, unpacks: boolean): string | undefined {
  switch (layer.status) {
    case LayerStatus.LAYER_STATUS_WAITING:
      return 'Waiting';
    case LayerStatus.LAYER_STATUS_DOWNLOADING:
      return 'Downloading';
    case LayerStatus.LAYER_STATUS_VERIFYING:
      return 'Verifying Checksum';
    case LayerStatus.LAYER_STATUS_STORED:
      return 'Download complete';
    case LayerStatus.LAYER_STATUS_EXISTS:
      return 'Already exists';
    case LayerStatus.LAYER_STATUS_UNPACKING:
      return 'Extracting';
    case LayerStatus.LAYER_STATUS_DONE:
      if (previous?.status === LayerStatus.LAYER_STATUS_EXISTS) return 'Already exists';
      if (unpacks && previous?.status !== LayerStatus.LAYER_STATUS_UNPACKING) return 'Download complete';
      return 'Pull complete';
    default:
      return undefined;
  }
}

/** `[=====>      ] ` (Docker's 50-cell bar) and `  12.3MB/45.6MB`. */
function progressParts(offset: number, total: number): { bar: string; numbers: string } {
  const current = humanSize(offset).padStart(8);
  if (total <= 0) return { bar: '', numbers: current };
  const filled = Math.min(BAR_WIDTH, Math.floor(Math.floor((offset / total) * 100) / 2));
  const bar = `[${'='.repeat(filled)}>${' '.repeat(BAR_WIDTH - filled)}] `;
  return { bar, numbers: offset > total ? current : `${current}/${humanSize(total)}` };
}

/**
 * Creates the renderer of a pull's progress writing to options.out. On a
 * terminal every layer keeps one line that is rewritten in place (cursor
 * up, erase line, cursor down); elsewhere each state change of a layer is
 * a line of its own and download progress is not repeated.
 */
export function createPullProgress(options: PullProgressOptions): PullProgress {
  const { out, tty, columns } = options;
  const unpacks = options.unpack === true;
  const layers = new Map<string, LayerLine>();
  let rows = 0;
  let ref: string | undefined;
  let digest: string | undefined;
  let summary: string[] = [];

  const fit = (line: string, withoutBar?: string): string => {
    if (columns === undefined || columns <= 1 || line.length < columns) return line;
    if (withoutBar !== undefined && withoutBar.length < columns) return withoutBar;
    return (withoutBar ?? line).slice(0, columns - 1);
  };

  const writeRow = (line: string) => {
    out.write(`${line}\n`);
    rows++;
  };

  const finish = () => {
    for (const line of summary.splice(0)) writeRow(line);
  };

  const onLayer = (layer: LayerProgress) => {
    const previous = layers.get(layer.digest);
    const state = stateOf(layer, previous, unpacks);
    if (state === undefined) return;
    const prefix = `${shortId(layer.digest)}: ${state}`;
    let line = prefix;
    if (tty && layer.status === LayerStatus.LAYER_STATUS_DOWNLOADING) {
      const { bar, numbers } = progressParts(layer.offset, layer.total);
      line = fit(`${prefix} ${bar}${numbers}`, `${prefix} ${numbers}`);
    } else {
      line = fit(line);
    }
    if (previous === undefined) {
      layers.set(layer.digest, { row: rows, status: layer.status, state, drawn: line });
      writeRow(line);
      return;
    }
    previous.status = layer.status;
    if (!tty) {
      if (previous.state !== state) writeRow(line);
      previous.state = state;
      return;
    }
    previous.state = state;
    if (previous.drawn === line) return;
    previous.drawn = line;
    const up = rows - previous.row;
    out.write(`${ESC}${up}A${ESC}2K${line}${ESC}${up}B\r`);
  };

  return {
    update(event) {
      const e = event.event;
      if (e === undefined) return;
      switch (e.$case) {
        case 'resolving': {
          ref = e.value.ref;
          try {
            const parsed = parseReference(ref);
            writeRow(fit(`${parsed.tag ?? parsed.digest}: Pulling from ${parsed.path}`));
          } catch {
            writeRow(fit(`Pulling ${ref}`));
          }
          return;
        }
        case 'resolved':
          ref = e.value.ref || ref;
          digest = e.value.target?.digest;
          return;
        case 'layer':
          onLayer(e.value);
          return;
        case 'done': {
          const name = ref ?? e.value.image?.repoTags[0] ?? '';
          summary = [
            ...(digest !== undefined && digest !== '' ? [`Digest: ${digest}`] : []),
            `Status: ${e.value.upToDate ? 'Image is up to date for' : 'Downloaded newer image for'} ${familiar(name)}`,
            name,
          ];
          if (!unpacks) finish();
          return;
        }
      }
    },
    unpack(event) {
      const line = (status: LayerStatus) => onLayer({ digest: event.digest, mediaType: '', index: event.index, total: 0, offset: 0, status });
      if (event.status === UnpackStatus.UNPACK_STATUS_APPLYING) line(LayerStatus.LAYER_STATUS_UNPACKING);
      if (event.status !== UnpackStatus.UNPACK_STATUS_COMMITTED) return;
      if (layers.get(event.digest)?.status !== LayerStatus.LAYER_STATUS_UNPACKING) line(LayerStatus.LAYER_STATUS_UNPACKING);
      line(LayerStatus.LAYER_STATUS_DONE);
    },
    finish,
  };
}
