// What the entry module requests for a DICOM viewer before the Cornerstone chunk has loaded:
// the series metadata and, once that is in, the first slice's frame. Both download while the
// browser is still fetching and evaluating the chunk, which then starts from them.
import type { DicomJsonInstance } from './dicomJson';
import { type SeriesRef, buildStack, fetchSeriesMetadata } from './series';

/** One frame as the server answered it: `body` is the multipart/related response. */
export interface PrefetchedFrame {
  imageId: string;
  contentType: string;
  body: ArrayBuffer;
}

export interface HeadStart {
  metadata: Promise<DicomJsonInstance[]>;
  /** Undefined when the request failed: the loader then asks again and reports the error. */
  firstFrame: Promise<PrefetchedFrame | undefined>;
}

/** The media type Cornerstone's WADO-RS loader asks frames in (any transfer syntax). */
const FRAME_ACCEPT = 'multipart/related; type=application/octet-stream; transfer-syntax=*';

export function startSeries(ref: SeriesRef, headers: Record<string, string>): HeadStart {
  const metadata = fetchSeriesMetadata(ref, headers);
  metadata.catch(() => {}); // consumed (and reported) by mountDicom; avoid an unhandled-rejection log
  const firstFrame = metadata
    .then((instances) => fetchFrame(buildStack(ref, instances).imageIds[0]!, headers))
    .catch(() => undefined);
  return { metadata, firstFrame };
}

async function fetchFrame(imageId: string, headers: Record<string, string>): Promise<PrefetchedFrame | undefined> {
  const url = imageId.slice(imageId.indexOf(':') + 1); // wadors:<url>
  const response = await fetch(url, { credentials: 'same-origin', headers: { Accept: FRAME_ACCEPT, ...headers } });
  if (!response.ok) return undefined;
  return { imageId, contentType: response.headers.get('Content-Type') ?? '', body: await response.arrayBuffer() };
}
