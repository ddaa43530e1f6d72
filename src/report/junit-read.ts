import { XMLParser } from 'fast-xml-parser';
import { SeedforkError } from '../errors/seedfork-error.js';
import type { TestCaseResult } from './types.js';

type Node = Record<string, unknown>;

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '',
  textNodeName: '#text',
  isArray: (name) => ['testsuite', 'testcase', 'failure', 'error', 'skipped'].includes(name),
  parseAttributeValue: false,
  processEntities: true,
});

function text(node: unknown): string {
  if (typeof node === 'string') return node;
  if (node && typeof node === 'object') return String((node as Node)['#text'] ?? '');
  return '';
}

function firstProblem(tc: Node): { message: string; details: string } | undefined {
  for (const key of ['failure', 'error']) {
    const list = tc[key] as unknown[] | undefined;
    if (list && list.length > 0) {
      const f = list[0];
      const attrs = (typeof f === 'object' && f ? f : {}) as Node;
      const body = text(f).trim();
      const message = String(attrs.message ?? '').trim() || body.split('\n')[0] || key;
      return { message, details: body };
    }
  }
  return undefined;
}

/**
 * Read test cases from JUnit XML as written by node:test, Vitest, Jest, pytest, go-junit-report
 * and Maven Surefire: `<testsuites>`/`<testsuite>` (nested or not) holding `<testcase>` elements
 * with `<failure>`, `<error>` or `<skipped>` children. Times are seconds in the XML, ms here.
 * Format reference: the Surefire XML schema (surefire-test-report.xsd) and the JUnit XML
 * conventions documented by the testmoapp/junitxml project.
 * @throws SeedforkError when the XML cannot be parsed.
 */
export function readJUnit(xml: string): TestCaseResult[] {
  let doc: Node;
  try {
    doc = parser.parse(xml, true) as Node;
  } catch (error) {
    throw new SeedforkError(`malformed JUnit XML: ${(error as Error).message}`);
  }
  const results: TestCaseResult[] = [];
  const walk = (node: Node, suites: string[]) => {
    for (const tc of (node.testcase as Node[] | undefined) ?? []) {
      const name = String(tc.name ?? '(unnamed)');
      const problem = firstProblem(tc);
      const skipped = Array.isArray(tc.skipped) && tc.skipped.length > 0;
      results.push({
        name: [...suites, name].join(' > '),
        classname: String(tc.classname ?? ''),
        status: problem ? 'failed' : skipped ? 'skipped' : 'passed',
        durationMs: Math.round(Number(tc.time ?? 0) * 1000 * 1000) / 1000,
        ...(problem ? { message: problem.message, details: problem.details } : {}),
      });
    }
    for (const suite of (node.testsuite as Node[] | undefined) ?? []) {
      const suiteName = String(suite.name ?? '');
      // A suite named after the file (Vitest, Jest) or the root suite adds no information.
      const inner =
        suiteName && !/\.(c|m)?[jt]sx?$|^vitest tests$|^root$/.test(suiteName)
          ? [...suites, suiteName]
          : suites;
      walk(suite, inner);
    }
  };
  const root = (doc.testsuites as Node | undefined) ?? doc;
  walk(typeof root === 'object' && root ? root : {}, []);
  return results;
}
