/**
 * Parsed manifests, indexes and image configs by key (their digest), shared
 * by every request of one Images service. Content-addressed bytes never
 * change, so a document parsed once stays right; what it saves is reading
 * and parsing the blob again on every inspect, list and run. Keeps the most
 * recently used documents up to `maxBytes` of their blobs' sizes (16 MiB by
 * default). Whether a blob is still stored is not its concern: callers ask
 * the store first where that matters. A load that fails is not kept.
 */
export class ParsedDocuments {
  private readonly entries = new Map<string, { value: unknown; bytes: number }>();
  private bytes = 0;

  constructor(private readonly maxBytes = 16 << 20) {}

  /** The document under key, from load (the parsed value and the size of its blob) when it is not kept yet. */
  async get<T>(key: string, load: () => Promise<{ value: T; bytes: number }>): Promise<T> {
    const kept = this.entries.get(key);
    if (kept !== undefined) {
      this.entries.delete(key);
      this.entries.set(key, kept);
      return kept.value as T;
    }
    const loaded = await load();
    if (loaded.bytes <= this.maxBytes && !this.entries.has(key)) {
      this.entries.set(key, loaded);
      this.bytes += loaded.bytes;
      for (const [oldest, entry] of this.entries) {
        if (this.bytes <= this.maxBytes) break;
        this.entries.delete(oldest);
        this.bytes -= entry.bytes;
      }
    }
    return loaded.value;
  }

  /** How many documents are kept. */
  get size(): number {
    return this.entries.size;
  }
}
