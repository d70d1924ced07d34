// Repositories: named roots with a path per platform; adding, editing and removing need
// the administer permission.
import { act, askForm, confirmAction, errorText, farmStyles, may } from "./farmkit.js";

const PLATFORMS = ["windows", "mac", "linux"];
const REFRESH_AFTER_MS = 250;

export default {
  name: "repositories",
  title: "Repositories",
  route: /^#\/repositories$/,
  nav: true,
  permission: null,
  render(root, ctx) {
    const { h, api } = ctx;
    farmStyles();
    const admin = may(ctx, "administer");
    let stopped = false;
    let timer = null;

    const body = h("tbody", {});
    const table = h(
      "table",
      { class: "farm-list", "aria-label": "Repositories" },
      h("thead", {}, h("tr", {},
        h("th", { scope: "col" }, "Repository"),
        h("th", { scope: "col" }, "Description"),
        h("th", { scope: "col" }, "Windows"),
        h("th", { scope: "col" }, "macOS"),
        h("th", { scope: "col" }, "Linux"),
        admin ? h("th", { scope: "col" }, "Actions") : null)),
      body,
    );
    const count = h("p", { class: "farm-note" });
    const toolbar = h("div", { class: "farm-toolbar" });
    if (admin) {
      toolbar.append(h("button", { type: "button", class: "primary", onclick: (e) => add(e.target) }, "Add repository"));
    }
    root.append(h("h2", {}, "Repositories"), toolbar, count, table);

    const pathFields = (repository) => PLATFORMS.map((platform) => ({
      name: platform, label: `${platform} path`, value: repository ? repository[platform] : "",
    }));

    async function add(button) {
      const values = await askForm(ctx, "Add a repository", [
        { name: "name", label: "Name" },
        { name: "description", label: "Description" },
        ...pathFields(null),
      ], "Add");
      if (!values) return;
      await act(ctx, button, `add repository ${values.name}`, () => api("/api/v1/repositories/", {
        method: "POST", body: values,
      }));
      load();
    }

    async function edit(repository, button) {
      const values = await askForm(ctx, `Edit repository ${repository.name}`, [
        { name: "description", label: "Description", value: repository.description },
        ...pathFields(repository),
      ], "Save");
      if (!values) return;
      await act(ctx, button, `edit repository ${repository.name}`, () => api(
        `/api/v1/repositories/${encodeURIComponent(repository.name)}`, { method: "PATCH", body: values },
      ));
      load();
    }

    async function remove(repository, button) {
      if (!(await confirmAction(ctx, `Remove repository ${repository.name}?`, "Remove"))) return;
      await act(ctx, button, `remove repository ${repository.name}`, () => api(
        `/api/v1/repositories/${encodeURIComponent(repository.name)}`, { method: "DELETE" },
      ));
      load();
    }

    function row(repository) {
      const cells = [
        h("td", { class: "farm-name" }, repository.name),
        h("td", {}, repository.description),
        ...PLATFORMS.map((platform) => h("td", { class: "farm-path" }, repository[platform])),
      ];
      if (admin) {
        cells.push(h("td", { class: "farm-actions" },
          h("button", { type: "button", onclick: (e) => edit(repository, e.target) }, "Edit"),
          h("button", { type: "button", class: "danger", onclick: (e) => remove(repository, e.target) }, "Remove")));
      }
      return h("tr", { "data-repository": repository.name }, ...cells);
    }

    async function load() {
      try {
        const repositories = await api("/api/v1/repositories/");
        if (stopped) return;
        repositories.sort((a, b) => a.name.localeCompare(b.name));
        body.replaceChildren(...repositories.map(row));
        count.textContent = repositories.length
          ? `${repositories.length} repositories`
          : "No repositories yet.";
      } catch (error) {
        if (!stopped) ctx.toast(`repositories: ${errorText(error)}`, "error");
      }
    }

    load();
    const unsubscribe = ctx.subscribe({ kinds: ["account"] }, (events) => {
      if (events.some((event) => event.kind === "repository") && timer === null) {
        timer = setTimeout(() => {
          timer = null;
          load();
        }, REFRESH_AFTER_MS);
      }
    });
    return () => {
      stopped = true;
      clearTimeout(timer);
      unsubscribe();
    };
  },
};
