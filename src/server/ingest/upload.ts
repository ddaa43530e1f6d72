import { SeedforkError } from '../../errors/seedfork-error.js';
import { type PreparedIngest, prepareIngest } from '../../history/ingest.js';
import { countJUnitCases, parseReport } from '../../history/read-report.js';
import { MAX_INT32, wholeNumber } from '../../http/fields.js';

/** What `POST /api/v1/runs` takes: one CI job's reports, base64-encoded. */
export interface RunUpload {
  service: string;
  build: string;
  attempt?: number;
  commit?: string;
  branch?: string;
  /** ISO 8601 */
  at?: string;
  dependsOn?: string[];
  replace?: boolean;
  reports: { name: string; content: string }[];
}

/** How much one upload may hold (the server's limits; over one is 413 naming it). */
export interface UploadLimits {
  /** One report's bytes (decoded). */
  reportBytes: number;
  /** Test cases in all of the upload's reports together. */
  tests: number;
}

/** An upload over one of the server's {@link UploadLimits} (HTTP 413). */
export class UploadTooLarge extends SeedforkError {}

/**
 * Read one upload's JSON body and work out what to store: fields checked (400 naming the
 * field), reports decoded and parsed, results merged and hashed. CPU work only: the server
 * runs it off its event loop (thread.ts).
 * @throws SeedforkError on a malformed field or report (400); UploadTooLarge over a limit (413)
 */
export function prepareUpload(body: Uint8Array, limits: UploadLimits): PreparedIngest {
  let upload: RunUpload;
  try {
    upload = JSON.parse(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8'));
  } catch {
    throw new SeedforkError('the body is not JSON');
  }
  if (
    typeof upload?.service !== 'string' ||
    typeof upload.build !== 'string' ||
    !Array.isArray(upload.reports)
  )
    throw new SeedforkError('service, build and reports[] are required');
  const text = (field: string, value: unknown) => {
    if (value !== undefined && typeof value !== 'string')
      throw new SeedforkError(`${field} must be a string`);
    return value as string | undefined;
  };
  const attempt = upload.attempt === undefined ? 1 : wholeNumber('attempt', upload.attempt, 1, MAX_INT32);
  const atText = text('at', upload.at);
  const at = atText === undefined ? undefined : Date.parse(atText);
  if (at !== undefined && !(at >= 0 && at <= Date.now() + 86_400_000))
    throw new SeedforkError(`at: "${atText}" is not an ISO-8601 time from 1970 to now`);
  if (
    upload.dependsOn !== undefined &&
    !(Array.isArray(upload.dependsOn) && upload.dependsOn.every((d) => typeof d === 'string'))
  )
    throw new SeedforkError('dependsOn must be a list of service names');
  let cases = 0;
  const reports = upload.reports.map((r, i) => {
    const name = text(`reports[${i}].name`, r?.name) ?? `reports[${i}]`;
    const content = Buffer.from(text(`reports[${i}].content`, r?.content) ?? '', 'base64');
    if (content.length > limits.reportBytes)
      throw new UploadTooLarge(
        `${name} is ${mib(content.length)}, over the server's limit of ${mib(limits.reportBytes)} per report: split it, or leave out the output it holds`,
      );
    // counted before parsing, whose memory grows with the cases
    cases += countJUnitCases(content, limits.tests + 1 - cases);
    if (cases > limits.tests) throw tooManyTests(limits.tests);
    return parseReport(name, content);
  });
  const total = reports.reduce((n, r) => n + r.cases.length, 0);
  if (total > limits.tests) throw tooManyTests(limits.tests);
  const commit = text('commit', upload.commit);
  const branch = text('branch', upload.branch);
  return prepareIngest({
    service: upload.service,
    build: upload.build,
    attempt,
    ...(commit ? { commit } : {}),
    ...(branch ? { branch } : {}),
    ...(at !== undefined ? { at } : {}),
    dependsOn: upload.dependsOn ?? [],
    reports,
    replace: upload.replace === true,
  });
}

const mib = (bytes: number) => `${(bytes / 1024 ** 2).toFixed(1).replace(/\.0$/, '')} MiB`;

function tooManyTests(max: number): UploadTooLarge {
  return new UploadTooLarge(
    `the upload has more than ${max} test cases, the server's limit per upload: split the job's reports into several ingests`,
  );
}
