/** Default and upper bound of message sizes: a 1 MiB data chunk plus headroom, with room to spare. */
export const DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024;
