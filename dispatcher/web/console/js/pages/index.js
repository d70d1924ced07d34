// The pages the shell knows, in the order of the navigation bar. Each module's default
// export is {name, title, route, nav, permission, render(root, ctx, params) -> cleanup}.
import job from "./job.js";
import jobs from "./jobs.js";
import submit from "./submit.js";
import nodes from "./nodes.js";
import node from "./node.js";
import overview from "./overview.js";
import pools from "./pools.js";
import repositories from "./repositories.js";

export default [jobs, job, submit, nodes, node, overview, pools, repositories];
