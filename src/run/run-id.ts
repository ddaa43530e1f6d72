/**
 * Id of the CI run the current process belongs to, from the variables CI systems set for every
 * job of one run: GitHub Actions (`GITHUB_RUN_ID`, `GITHUB_RUN_ATTEMPT`), GitLab
 * (`CI_PIPELINE_ID`), Buildkite (`BUILDKITE_BUILD_ID`), CircleCI (`CIRCLE_WORKFLOW_ID`), or
 * `SEEDFORK_RUN_ID` anywhere. Undefined outside CI.
 */
export function ciRunId(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.SEEDFORK_RUN_ID) return env.SEEDFORK_RUN_ID;
  if (env.GITHUB_RUN_ID) return `github-${env.GITHUB_RUN_ID}-${env.GITHUB_RUN_ATTEMPT ?? '1'}`;
  if (env.CI_PIPELINE_ID) return `gitlab-${env.CI_PIPELINE_ID}`;
  if (env.BUILDKITE_BUILD_ID) return `buildkite-${env.BUILDKITE_BUILD_ID}`;
  if (env.CIRCLE_WORKFLOW_ID) return `circleci-${env.CIRCLE_WORKFLOW_ID}`;
  return undefined;
}
