/**
 * A tiny static x86_64 Linux program that makes one system call with fixed
 * arguments and exits 0 when it succeeded, or with the errno it failed
 * with: how a test asks, from inside a container that has only busybox,
 * whether seccomp lets keyctl, unshare, clone with namespace flags… through.
 */

/** x86_64 syscall numbers of the probes the tests use. */
export const X86_64_SYSCALLS = {
  getpid: 39,
  clone: 56,
  ptrace: 101,
  personality: 135,
  swapoff: 168,
  add_key: 248,
  request_key: 249,
  keyctl: 250,
  unshare: 272,
  perf_event_open: 298,
  bpf: 321,
  userfaultfd: 323,
} as const;

const LOAD_ADDRESS = 0x400000n;
const HEADER_BYTES = 64 + 56;

/** `syscall` with rax = nr and the arguments in rdi, rsi, rdx, r10, r8, r9; the result in rax. */
function x86_64Call(nr: number, args: readonly (number | bigint)[]): number[] {
  const registers = [
    [0x48, 0xbf], // mov rdi, imm64
    [0x48, 0xbe], // mov rsi, imm64
    [0x48, 0xba], // mov rdx, imm64
    [0x49, 0xba], // mov r10, imm64
    [0x49, 0xb8], // mov r8, imm64
    [0x49, 0xb9], // mov r9, imm64
  ];
  const code: number[] = [0x48, 0xb8, ...imm64(BigInt(nr))]; // mov rax, nr
  args.forEach((arg, i) => code.push(...registers[i]!, ...imm64(BigInt(arg))));
  code.push(0x0f, 0x05); // syscall
  return code;
}

/** `int 0x80` with eax = nr and the arguments in ebx, ecx, edx, esi, edi, ebp; the result sign-extended into rax. */
function i386Call(nr: number, args: readonly (number | bigint)[]): number[] {
  const registers = [0xbb, 0xb9, 0xba, 0xbe, 0xbf, 0xbd]; // mov ebx/ecx/edx/esi/edi/ebp, imm32
  const code: number[] = [0xb8, ...imm64(BigInt(nr)).slice(0, 4)]; // mov eax, nr
  args.forEach((arg, i) => code.push(registers[i]!, ...imm64(BigInt(arg)).slice(0, 4)));
  code.push(0xcd, 0x80, 0x48, 0x63, 0xc0); // int 0x80; movsxd rax, eax
  return code;
}

function imm64(value: bigint): number[] {
  const out: number[] = [];
  let v = BigInt.asUintN(64, value);
  for (let i = 0; i < 8; i++) {
    out.push(Number(v & 0xffn));
    v >>= 8n;
  }
  return out;
}

/** i386 syscall numbers, for a probe of the 32-bit ABI (`int 0x80`). */
export const I386_SYSCALLS = { getpid: 20 } as const;

/**
 * The bytes of a static ELF64 x86_64 executable that calls syscall `nr`
 * with up to six integer arguments and exits with 0 on success or with
 * the errno. Write it with mode 0755 and run it; only x86_64 hosts run it.
 * With abi `i386` the call goes through `int 0x80`, the 32-bit ABI (i386
 * numbers, 32-bit arguments), as a 32-bit program's would.
 */
export function syscallProbe(nr: number, args: readonly (number | bigint)[] = [], abi: 'x86_64' | 'i386' = 'x86_64'): Uint8Array {
  if (args.length > 6) throw new Error('a syscall takes at most six arguments');
  const code: number[] = abi === 'i386' ? i386Call(nr, args) : x86_64Call(nr, args);
  code.push(
    0x31, 0xff, // xor edi, edi
    0x48, 0x85, 0xc0, // test rax, rax
    0x79, 0x06, // jns +6
    0x48, 0x89, 0xc7, // mov rdi, rax
    0x48, 0xf7, 0xdf, // neg rdi
    0xb8, 0x3c, 0x00, 0x00, 0x00, // mov eax, 60 (exit)
    0x0f, 0x05, // syscall
  );
  const size = HEADER_BYTES + code.length;
  const elf = Buffer.alloc(size);
  // ELF header
  elf.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0], 0);
  elf.writeUInt16LE(2, 16); // ET_EXEC
  elf.writeUInt16LE(0x3e, 18); // EM_X86_64
  elf.writeUInt32LE(1, 20);
  elf.writeBigUInt64LE(LOAD_ADDRESS + BigInt(HEADER_BYTES), 24); // entry
  elf.writeBigUInt64LE(64n, 32); // program headers offset
  elf.writeUInt16LE(64, 52); // header size
  elf.writeUInt16LE(56, 54); // program header size
  elf.writeUInt16LE(1, 56); // one program header
  // PT_LOAD of the whole file, read + execute
  elf.writeUInt32LE(1, 64);
  elf.writeUInt32LE(5, 68);
  elf.writeBigUInt64LE(0n, 72);
  elf.writeBigUInt64LE(LOAD_ADDRESS, 80);
  elf.writeBigUInt64LE(LOAD_ADDRESS, 88);
  elf.writeBigUInt64LE(BigInt(size), 96);
  elf.writeBigUInt64LE(BigInt(size), 104);
  elf.writeBigUInt64LE(0x1000n, 112);
  elf.set(code, HEADER_BYTES);
  return elf;
}
