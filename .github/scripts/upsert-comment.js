// Posts the preview summary on the pull request as one comment per stack, edited in place on
// every push: the comment is found by the summary's first line, a hidden marker naming the stack
// (commands/preview_summary.py writes it).
const fs = require('fs');

module.exports = async ({ github, context, core }) => {
  const path = process.env.SUMMARY_FILE;
  if (!fs.existsSync(path)) {
    core.warning(`${path} was not written: nothing to post (see the preview step)`);
    return;
  }
  const summary = fs.readFileSync(path, 'utf8');
  const marker = summary.split('\n', 1)[0];
  if (!marker.startsWith('<!-- ') || !marker.endsWith(' -->')) {
    core.setFailed(`${path} does not start with its hidden marker`);
    return;
  }
  const { owner, repo } = context.repo;
  const issue_number = context.issue.number;
  const run = `${context.serverUrl}/${owner}/${repo}/actions/runs/${context.runId}`;
  const sha = context.payload.pull_request.head.sha.slice(0, 7);
  const body = `${summary}\n<sub>Commit ${sha}, [workflow run](${run}).</sub>\n`;
  const comments = await github.paginate(github.rest.issues.listComments, {
    owner, repo, issue_number, per_page: 100,
  });
  const mine = comments.find(
    (c) => c.user && c.user.type === 'Bot' && c.body && c.body.startsWith(marker),
  );
  if (mine) {
    await github.rest.issues.updateComment({ owner, repo, comment_id: mine.id, body });
    core.info(`updated comment ${mine.html_url}`);
  } else {
    const { data } = await github.rest.issues.createComment({ owner, repo, issue_number, body });
    core.info(`created comment ${data.html_url}`);
  }
};
