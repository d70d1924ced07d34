// The pages the shell knows, in the order of the navigation bar. Each module's default
// export is {name, title, route, nav, permission, render(root, ctx, params) -> cleanup}.
import jobs from "./jobs.js";

export default [jobs];
