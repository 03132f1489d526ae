-- End-to-end check of editors/neovim against a real rollguard-lsp, used by
-- lsp/tests/editor_neovim.rs. Runs as the init file of a headless Neovim (0.7 or later):
--
--   ROLLGUARD_LSP=target/debug/rollguard-lsp \
--   ROLLGUARD_E2E_FILE=/tmp/set/policy.rollguard \
--   ROLLGUARD_E2E_HOVER=3:22 ROLLGUARD_E2E_DEFINITION=3:35 ROLLGUARD_E2E_COMPLETION=3:23 \
--   ROLLGUARD_E2E_OUT=/tmp/result.json \
--   nvim --headless --clean -u editors/neovim/test/e2e.lua
--
-- Positions are 0-based `line:character`. It opens the file, waits for the server's
-- diagnostics, asks for hover, go to definition and completion at the three positions (completion
-- as the buffer's 'omnifunc' does: the same request, turned into Vim complete-items by the same
-- function), writes what came back as JSON to ROLLGUARD_E2E_OUT, and quits. Every failure is
-- recorded in the JSON's `errors`.

local env = vim.env
local script = debug.getinfo(1, "S").source:sub(2)
local plugin_dir = vim.fn.fnamemodify(script, ":p:h:h")
vim.opt.runtimepath:prepend(plugin_dir)
vim.opt.swapfile = false

local timeout = tonumber(env.ROLLGUARD_E2E_TIMEOUT_MS or "") or 30000
local version = vim.version()

local out = {
  nvim_version = ("%d.%d.%d"):format(version.major, version.minor, version.patch),
  api = vim.lsp.start ~= nil and "vim.lsp.start" or "vim.lsp.start_client",
  errors = {},
  messages = {},
}

local function fail(message)
  table.insert(out.errors, message)
end

-- Keep what the plugin and the LSP client report instead of printing it.
vim.notify = function(message, level)
  table.insert(out.messages, { message = tostring(message), level = level or vim.NIL })
end

local function position(var)
  local value = env[var]
  local line, character = (value or ""):match("^(%d+):(%d+)$")
  if line == nil then
    error(("%s must be LINE:CHARACTER (0-based), not %q"):format(var, tostring(value)))
  end
  return { line = tonumber(line), character = tonumber(character) }
end

local function buf_clients(bufnr)
  if vim.lsp.get_clients ~= nil then
    return vim.lsp.get_clients({ bufnr = bufnr })
  end
  local list = {}
  for _, client in pairs(vim.lsp.buf_get_clients(bufnr)) do
    table.insert(list, client)
  end
  return list
end

-- The text of a Hover's `contents`: MarkupContent, MarkedString or a list of MarkedString.
local function hover_text(contents)
  if type(contents) == "string" then
    return contents
  end
  if type(contents) ~= "table" then
    return ""
  end
  if contents.value ~= nil then
    return contents.value
  end
  local parts = {}
  for _, part in ipairs(contents) do
    table.insert(parts, hover_text(part))
  end
  return table.concat(parts, "\n")
end

-- Location | Location[] | LocationLink[] -> { { uri, path, line, character }, ... }
local function locations(result)
  if result == nil or result == vim.NIL then
    return {}
  end
  if result.uri ~= nil or result.targetUri ~= nil then
    result = { result }
  end
  local list = {}
  for _, loc in ipairs(result) do
    local uri = loc.uri or loc.targetUri
    local range = loc.range or loc.targetSelectionRange or loc.targetRange
    table.insert(list, {
      uri = uri,
      path = vim.uri_to_fname(uri),
      line = range.start.line,
      character = range.start.character,
    })
  end
  return list
end

-- One request over the real protocol; returns the first server's result.
local function request(bufnr, method, pos)
  local params = {
    textDocument = { uri = vim.uri_from_bufnr(bufnr) },
    position = pos,
  }
  local responses, err = vim.lsp.buf_request_sync(bufnr, method, params, timeout)
  if responses == nil then
    fail(("%s: no answer (%s)"):format(method, tostring(err)))
    return nil
  end
  for _, response in pairs(responses) do
    if response.error ~= nil then
      fail(("%s: error %s"):format(method, vim.inspect(response.error)))
    else
      return response.result
    end
  end
  fail(method .. ": no server answered")
  return nil
end

local function main()
  local file = env.ROLLGUARD_E2E_FILE
  local server = env.ROLLGUARD_LSP
  if file == nil or server == nil then
    error("ROLLGUARD_E2E_FILE and ROLLGUARD_LSP must be set")
  end
  local hover_pos = position("ROLLGUARD_E2E_HOVER")
  local definition_pos = position("ROLLGUARD_E2E_DEFINITION")
  local completion_pos = position("ROLLGUARD_E2E_COMPLETION")

  local exited = false
  require("rollguard").setup({
    cmd = { server },
    on_init = function(client, result)
      out.server_info = result and result.serverInfo or vim.NIL
    end,
    on_exit = function(code, signal)
      exited = true
      out.server_exit = { code = code, signal = signal }
    end,
  })
  vim.cmd("edit " .. vim.fn.fnameescape(file))
  local bufnr = vim.api.nvim_get_current_buf()
  out.filetype = vim.bo[bufnr].filetype

  vim.wait(timeout, function()
    return exited or #buf_clients(bufnr) > 0
  end, 20)
  if #buf_clients(bufnr) == 0 then
    fail("no language client attached to the buffer" .. (exited and " (the server exited)" or ""))
    return
  end
  local client = buf_clients(bufnr)[1]
  out.client = client.name

  -- Diagnostics arrive by notification once the server has read the document.
  local got = vim.wait(timeout, function()
    return #vim.diagnostic.get(bufnr) > 0
  end, 50)
  if not got then
    fail("no diagnostics within " .. timeout .. " ms")
  end
  out.diagnostics = {}
  for _, d in ipairs(vim.diagnostic.get(bufnr)) do
    table.insert(out.diagnostics, {
      line = d.lnum,
      character = d.col,
      end_line = d.end_lnum,
      end_character = d.end_col,
      severity = d.severity,
      code = d.code or vim.NIL,
      source = d.source or vim.NIL,
      message = d.message,
    })
  end

  local hover = request(bufnr, "textDocument/hover", hover_pos)
  if hover ~= nil and hover ~= vim.NIL then
    out.hover = { text = hover_text(hover.contents) }
  else
    out.hover = vim.NIL
  end

  local definition = request(bufnr, "textDocument/definition", definition_pos)
  out.definition = locations(definition)

  -- Completion: the plugin sets 'omnifunc' when the server attaches; calling it with
  -- findstart = 1 asks the server (it answers -1 when no client serves the buffer).
  out.omnifunc = vim.bo[bufnr].omnifunc
  vim.api.nvim_win_set_cursor(0, { completion_pos.line + 1, completion_pos.character })
  local ok, start = pcall(vim.api.nvim_eval, out.omnifunc .. "(1, '')")
  out.omnifunc_findstart = ok and start or ("error: " .. tostring(start))
  -- What omnifunc then shows: the server's items as Vim complete-items, for the word before
  -- the cursor.
  local line = vim.api.nvim_buf_get_lines(bufnr, completion_pos.line, completion_pos.line + 1, true)[1]
  local prefix = line:sub(1, completion_pos.character):match("[%w_]*$")
  out.completion_prefix = prefix
  local completion = request(bufnr, "textDocument/completion", completion_pos)
  out.completion = {}
  if completion ~= nil and completion ~= vim.NIL then
    local to_items = vim.lsp.util.text_document_completion_list_to_complete_items
    if to_items ~= nil then
      for _, item in ipairs(to_items(completion, prefix)) do
        table.insert(out.completion, { word = item.word, kind = item.kind, menu = item.menu })
      end
    else
      -- Neovim 0.11 keeps that conversion private: record the labels the prefix matches.
      for _, item in ipairs(completion.items or completion) do
        if vim.startswith(item.label, prefix) then
          table.insert(out.completion, { word = item.label })
        end
      end
    end
  end
end

local function finish()
  local ok, err = pcall(main)
  if not ok then
    fail("e2e.lua: " .. tostring(err))
  end
  local path = env.ROLLGUARD_E2E_OUT or "rollguard-e2e.json"
  local written, werr = pcall(vim.fn.writefile, { vim.fn.json_encode(out) }, path)
  if not written then
    io.stderr:write("e2e.lua: cannot write " .. path .. ": " .. tostring(werr) .. "\n")
  end
  vim.cmd("qall!")
end

-- After startup (filetype detection is on by then), outside the autocommand.
vim.api.nvim_create_autocmd("VimEnter", {
  once = true,
  callback = function()
    vim.schedule(finish)
  end,
})
