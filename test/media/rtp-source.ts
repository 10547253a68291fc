/** Test peers that play RTP at an endpoint: ffmpeg generating a tone (and optionally test-pattern H.264). */
import { OwnedProcess } from '../../shared/owned-process.ts';

export interface ToneSourceOptions {
  audioPort: number;
  videoPort?: number;
  seconds: number;
  frequency?: number;
  /** Where ffmpeg writes the SDP of what it sends (to learn H.264 sprop-parameter-sets). */
  sdpFile?: string;
  /** Source RTP port, so a second run can look like a new SSRC from the same peer. */
  localAudioPort?: number;
  /** Loop this audio file instead of generating the tone (the bench plays what sipp plays). */
  audioFile?: string;
}

/** PCMU 1 kHz (PT 0) to audioPort; with videoPort, 320x240 H.264 (PT 96, packetization-mode 1) too. */
export function startToneSource(options: ToneSourceOptions): Promise<OwnedProcess> {
  const frequency = options.frequency ?? 1000;
  const args = ['-hide_banner', '-nostdin', '-loglevel', 'error', '-re'];
  if (options.videoPort !== undefined) args.push('-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=25');
  if (options.audioFile) args.push('-stream_loop', '-1', '-i', options.audioFile, '-t', String(options.seconds));
  else
    args.push(
      '-f',
      'lavfi',
      '-i',
      `sine=frequency=${frequency}:sample_rate=8000:samples_per_frame=160`,
      '-t',
      String(options.seconds),
    );
  const audioInput = options.videoPort !== undefined ? 1 : 0;
  const local = options.localAudioPort !== undefined ? `?localport=${options.localAudioPort}` : '';
  args.push(
    '-map',
    `${audioInput}:a`,
    '-c:a',
    'pcm_mulaw',
    '-ar',
    '8000',
    '-ac',
    '1',
    '-packet_size',
    '172',
    '-f',
    'rtp',
    `rtp://127.0.0.1:${options.audioPort}${local}`,
  );
  if (options.videoPort !== undefined) {
    args.push(
      '-map',
      '0:v',
      '-t',
      String(options.seconds),
      '-c:v',
      'libx264',
      '-preset',
      'ultrafast',
      '-tune',
      'zerolatency',
      '-g',
      '25',
      '-pix_fmt',
      'yuv420p',
      // With an SDP file wanted, SPS/PPS go out of band only (sprop-parameter-sets), the harder case for ffmpeg.
      ...(options.sdpFile ? ['-flags:v', '+global_header'] : []),
      '-bsf:v',
      'h264_mp4toannexb',
      '-f',
      'rtp',
      `rtp://127.0.0.1:${options.videoPort}`,
    );
  }
  if (options.sdpFile) args.push('-sdp_file', options.sdpFile);
  return OwnedProcess.start({ name: 'rtp-source', command: 'ffmpeg', args, diesWithOwner: true });
}
