// The jobs page: the job table, paged from the server, updated live from the events.

const PAGE_SIZE = 1000;

function progressBar(ctx, fraction) {
  const percent = Math.round((fraction || 0) * 100);
  const fill = ctx.h("span");
  fill.style.width = `${percent}%`;
  return ctx.h("div", { class: "bar", role: "progressbar", "aria-valuenow": String(percent),
    "aria-valuemin": "0", "aria-valuemax": "100" }, fill, ctx.h("em", {}, `${percent}%`));
}

function columns(ctx) {
  return [
    { key: "id", title: "ID", width: "5rem", className: "num" },
    { key: "title", title: "Name", width: "minmax(12rem, 3fr)" },
    { key: "state", title: "State", width: "8rem", render: (job) => ctx.stateBadge(job.state) },
    { key: "user", title: "Owner", width: "minmax(6rem, 1fr)" },
    { key: "template", title: "Template", width: "minmax(6rem, 1fr)" },
    { key: "priority", title: "Priority", width: "5.5rem", className: "num" },
    { key: "progress", title: "Progress", width: "minmax(7rem, 1fr)", render: (job) => progressBar(ctx, job.progress) },
  ];
}

export default {
  name: "jobs",
  title: "Jobs",
  route: /^#\/jobs$/,
  nav: true,
  permission: null,
  render(root, ctx) {
    const status = ctx.h("span", { class: "count" }, "");
    root.appendChild(ctx.h("div", { class: "toolbar" }, ctx.h("h1", {}, "Jobs"), status));
    const table = ctx.createTable(root, {
      label: "jobs",
      columns: columns(ctx),
      rowKey: (job) => job.id,
      fetchPage: (cursor) => ctx.apiPage(cursor || "jobs/", cursor ? {} : { query: { limit: PAGE_SIZE } }),
      onOpen: (job) => ctx.navigate(`#/jobs/${job.id}`),
      onStatus: ({ count, loading }) => { status.textContent = `${count} jobs${loading ? " (loading...)" : ""}`; },
    });
    return () => table.destroy();
  },
};
