import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'snapshots-local',
    include: ['src/**/*.spec.ts'],
  },
});
