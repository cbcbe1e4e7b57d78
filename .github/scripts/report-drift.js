// Keeps one open issue per drifted stack: opened (or updated) with the drift preview's summary
// when the scheduled check finds drift, closed when a later check finds none. The issue is found
// by the summary's first line, a hidden marker naming the stack.
const fs = require('fs');

module.exports = async ({ github, context, core }) => {
  const stack = process.env.STACK;
  const drifted = process.env.DRIFT_OUTCOME !== 'success';
  const path = process.env.SUMMARY_FILE;
  const summary = fs.existsSync(path) ? fs.readFileSync(path, 'utf8') : '';
  const marker = summary.split('\n', 1)[0] || `<!-- gpu-model-platform preview: ${stack} -->`;
  const { owner, repo } = context.repo;
  const run = `${context.serverUrl}/${owner}/${repo}/actions/runs/${context.runId}`;
  const open = await github.paginate(github.rest.issues.listForRepo, {
    owner, repo, state: 'open', labels: 'drift', per_page: 100,
  });
  const mine = open.find((issue) => issue.body && issue.body.startsWith(marker));
  if (!drifted) {
    if (mine) {
      await github.rest.issues.createComment({
        owner, repo, issue_number: mine.number, body: `No drift any more ([run](${run})).`,
      });
      await github.rest.issues.update({ owner, repo, issue_number: mine.number, state: 'closed' });
    }
    return;
  }
  const body = `${summary || marker + '\nThe drift check failed before it wrote a summary.'}\n` +
    `<sub>[Drift check run](${run}).</sub>\n`;
  if (mine) {
    await github.rest.issues.update({ owner, repo, issue_number: mine.number, body });
    core.info(`updated ${mine.html_url}`);
  } else {
    const { data } = await github.rest.issues.create({
      owner, repo, title: `Drift on the ${stack} stack`, body, labels: ['drift'],
    });
    core.info(`opened ${data.html_url}`);
  }
};
