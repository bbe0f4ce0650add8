import { alreadyExists, invalidArgument } from '@strata/kit';

/** A valid container name (Docker's rule). */
export const CONTAINER_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/** Longest name accepted. */
export const MAX_NAME_LENGTH = 128;

/**
 * Checks a name asked for; a leading `/` (Docker's form) is dropped.
 * Raises InvalidArgument "Invalid container name (x), only
 * [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed" as Docker does.
 */
export function checkContainerName(name: string): string {
  const bare = name.startsWith('/') ? name.slice(1) : name;
  if (!CONTAINER_NAME.test(bare) || bare.length > MAX_NAME_LENGTH) {
    throw invalidArgument(`Invalid container name (${name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
  }
  return bare;
}

/** The AlreadyExists error of a name in use, with Docker's text. */
export function nameConflict(name: string, holder: string): Error {
  return alreadyExists(
    `Conflict. The container name "/${name}" is already in use by container "${holder}". You have to remove (or rename) that container to be able to reuse that name.`,
    { fields: { name, containerId: holder } },
  );
}

const ADJECTIVES = [
  'admiring', 'agitated', 'amazing', 'angry', 'awesome', 'blissful', 'bold', 'brave', 'busy', 'charming', 'clever',
  'cool', 'compassionate', 'confident', 'cranky', 'dazzling', 'determined', 'distracted', 'dreamy', 'eager', 'ecstatic',
  'elastic', 'elated', 'elegant', 'epic', 'festive', 'focused', 'friendly', 'funny', 'gallant', 'gifted', 'goofy',
  'gracious', 'happy', 'hardcore', 'heuristic', 'hopeful', 'hungry', 'infallible', 'inspiring', 'jolly', 'jovial',
  'keen', 'kind', 'laughing', 'loving', 'lucid', 'magical', 'modest', 'musing', 'mystifying', 'naughty', 'nervous',
  'nice', 'nifty', 'nostalgic', 'objective', 'optimistic', 'peaceful', 'pedantic', 'pensive', 'practical', 'priceless',
  'quirky', 'quizzical', 'relaxed', 'reverent', 'romantic', 'serene', 'sharp', 'silly', 'sleepy', 'stoic', 'strange',
  'stupefied', 'suspicious', 'sweet', 'tender', 'thirsty', 'trusting', 'upbeat', 'vibrant', 'vigilant', 'vigorous',
  'wizardly', 'wonderful', 'xenodochial', 'youthful', 'zealous', 'zen',
];

const SCIENTISTS = [
  'albattani', 'allen', 'almeida', 'archimedes', 'ardinghelli', 'babbage', 'banach', 'bardeen', 'bartik', 'bell',
  'bhabha', 'blackwell', 'bohr', 'booth', 'borg', 'bose', 'brahmagupta', 'brattain', 'brown', 'carson', 'cerf',
  'chandrasekhar', 'clarke', 'curie', 'darwin', 'davinci', 'dijkstra', 'easley', 'einstein', 'elion', 'engelbart',
  'euclid', 'euler', 'faraday', 'fermat', 'fermi', 'feynman', 'franklin', 'galileo', 'gauss', 'goldberg', 'goodall',
  'hamilton', 'hawking', 'heisenberg', 'hopper', 'hypatia', 'jackson', 'jennings', 'johnson', 'kalam', 'kepler',
  'khorana', 'knuth', 'kowalevski', 'lamarr', 'lamport', 'leakey', 'liskov', 'lovelace', 'lumiere', 'mayer',
  'mccarthy', 'mcclintock', 'meitner', 'mendel', 'merkle', 'morse', 'napier', 'newton', 'nobel', 'noether', 'pascal',
  'pasteur', 'perlman', 'pike', 'poincare', 'raman', 'ramanujan', 'ritchie', 'rosalind', 'saha', 'sammet', 'shannon',
  'shockley', 'sinoussi', 'stonebraker', 'swanson', 'tesla', 'thompson', 'torvalds', 'turing', 'varahamihira',
  'wiles', 'williams', 'wing', 'wozniak', 'wright', 'yalow', 'yonath',
];

/**
 * A generated name like Docker's (`adjective_scientist`, with a number
 * appended after a few collisions) that taken does not contain.
 */
export function generateContainerName(taken: (name: string) => boolean, random: () => number = Math.random): string {
  for (let attempt = 0; ; attempt++) {
    const pick = (list: readonly string[]) => list[Math.floor(random() * list.length)] ?? list[0];
    let name = `${pick(ADJECTIVES)}_${pick(SCIENTISTS)}`;
    if (attempt >= 3) name += String(Math.floor(random() * 10) + attempt);
    if (!taken(name)) return name;
  }
}
