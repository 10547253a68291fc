/**
 * The media task's public surface: what the control plane may use to build and run a task (the local server
 * bundles it and picks its ffmpeg). Everything else under media-task/ is the task's own; the lint config lets
 * functions/ import this module only.
 */
export { bundleMediaTask } from './bundle.ts';
export { chooseTaskFfmpeg, type ChosenFfmpeg } from './ffmpeg/task-ffmpeg.ts';
