// The pages the shell knows, in the order of the navigation bar. Each module's default
// export is {name, title, route, nav, permission, render(root, ctx, params) -> cleanup}.
import job from "./job.js";
import jobs from "./jobs.js";
import submit from "./submit.js";

export default [jobs, job, submit];
