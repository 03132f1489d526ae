-- rollguard for Neovim: filetype detection and the rollguard-lsp language server.
--
--   require("rollguard").setup({ cmd = { "rollguard-lsp" } })
--
-- Uses vim.lsp.start on Neovim 0.8 and later, and vim.lsp.start_client with
-- vim.lsp.buf_attach_client on Neovim 0.7.

local M = {}

local defaults = {
  -- The server command and its arguments.
  cmd = { "rollguard-lsp" },
  filetypes = { "rollguard" },
  -- The client's root: the nearest ancestor holding one of these, else the file's directory.
  root_markers = { ".git" },
  -- Start the server when a rollguard buffer opens.
  autostart = true,
  -- Set the buffer's 'omnifunc' to the server's completion (`<C-x><C-o>` in insert mode) when
  -- the server attaches; false leaves 'omnifunc' alone.
  omnifunc = true,
  -- Passed through to the client.
  on_attach = nil,
  on_init = nil,
  on_exit = nil,
  capabilities = nil,
  settings = nil,
  init_options = nil,
  handlers = nil,
}

M.config = vim.deepcopy(defaults)

-- Clients started here on Neovim 0.7, by root directory (0.8+ reuses clients by itself).
local clients = {}
local augroup = nil
local warned_missing = false

local function notify(message, level)
  vim.notify("rollguard: " .. message, level or vim.log.levels.WARN)
end

--- Registers `*.rollguard` as the filetype `rollguard`. Safe to call more than once.
function M.filetype()
  if vim.filetype ~= nil and vim.filetype.add ~= nil then
    -- Neovim 0.8+ detects files through vim.filetype (0.7 too, with g:do_filetype_lua).
    vim.filetype.add({ extension = { rollguard = "rollguard" } })
  end
  -- Neovim 0.7's default detection is filetype.vim: an autocommand covers it.
  local group = vim.api.nvim_create_augroup("rollguard_filetype", { clear = true })
  vim.api.nvim_create_autocmd({ "BufRead", "BufNewFile" }, {
    group = group,
    pattern = "*.rollguard",
    callback = function()
      if vim.bo.filetype ~= "rollguard" then
        vim.bo.filetype = "rollguard"
      end
    end,
  })
end

local function exists(path)
  return (vim.loop or vim.uv).fs_stat(path) ~= nil
end

local function dirname(path)
  return vim.fn.fnamemodify(path, ":h")
end

--- The root directory for a file: the nearest ancestor that holds a root marker, or the
--- file's own directory (a rollguard policy set is the files of one directory).
function M.root_dir(path, markers)
  markers = markers or M.config.root_markers
  local start = dirname(vim.fn.fnamemodify(path, ":p"))
  local dir = start
  while true do
    for _, marker in ipairs(markers) do
      if exists(dir .. "/" .. marker) then
        return dir
      end
    end
    local parent = dirname(dir)
    if parent == dir then
      return start
    end
    dir = parent
  end
end

-- What the plugin does for a buffer the server attaches to, before the user's on_attach.
local function on_attach(client, bufnr)
  if M.config.omnifunc then
    vim.bo[bufnr].omnifunc = "v:lua.vim.lsp.omnifunc"
  end
  if M.config.on_attach ~= nil then
    M.config.on_attach(client, bufnr)
  end
end

local function client_config(root)
  local cfg = M.config
  return {
    name = "rollguard",
    cmd = cfg.cmd,
    root_dir = root,
    workspace_folders = {
      { uri = vim.uri_from_fname(root), name = root },
    },
    on_attach = on_attach,
    on_init = cfg.on_init,
    on_exit = cfg.on_exit,
    capabilities = cfg.capabilities or vim.lsp.protocol.make_client_capabilities(),
    settings = cfg.settings or vim.empty_dict(),
    init_options = cfg.init_options,
    handlers = cfg.handlers,
  }
end

local function server_found()
  local exe = M.config.cmd[1]
  if vim.fn.executable(exe) == 1 then
    return true
  end
  if not warned_missing then
    warned_missing = true
    notify(
      ("`%s` is not executable. Install it with `cargo install --path lsp` from the rollguard "
        .. "repository, or pass its path: require('rollguard').setup({ cmd = { '/path/to/rollguard-lsp' } })")
        :format(exe),
      vim.log.levels.ERROR
    )
  end
  return false
end

--- Starts (or reuses) the server for a buffer and attaches the buffer to it.
--- Returns the client id, or nil when the server could not be started.
function M.start(bufnr)
  if bufnr == nil or bufnr == 0 then
    bufnr = vim.api.nvim_get_current_buf()
  end
  if not server_found() then
    return nil
  end
  local name = vim.api.nvim_buf_get_name(bufnr)
  local root = name ~= "" and M.root_dir(name) or vim.fn.getcwd()
  local config = client_config(root)

  if vim.lsp.start ~= nil then
    -- Neovim 0.8+: reuses a running client with the same name and root.
    return vim.lsp.start(config, { bufnr = bufnr })
  end

  -- Neovim 0.7.
  local id = clients[root]
  local client = id and vim.lsp.get_client_by_id(id)
  if client == nil or client.is_stopped() then
    id = vim.lsp.start_client(config)
    if id == nil then
      notify("could not start " .. table.concat(config.cmd, " "), vim.log.levels.ERROR)
      return nil
    end
    clients[root] = id
  end
  vim.lsp.buf_attach_client(bufnr, id)
  return id
end

--- Stops every rollguard client.
function M.stop()
  local get_clients = vim.lsp.get_clients or vim.lsp.get_active_clients
  for _, client in pairs(get_clients()) do
    if client.name == "rollguard" then
      vim.lsp.stop_client(client.id)
    end
  end
  clients = {}
end

--- Configures the plugin: filetype detection and, unless `autostart = false`, the server for
--- every rollguard buffer (including those already open).
function M.setup(opts)
  M.config = vim.tbl_deep_extend("force", vim.deepcopy(defaults), opts or {})
  if type(M.config.cmd) == "string" then
    M.config.cmd = { M.config.cmd }
  end
  warned_missing = false
  M.filetype()

  augroup = vim.api.nvim_create_augroup("rollguard_lsp", { clear = true })
  if M.config.autostart then
    vim.api.nvim_create_autocmd("FileType", {
      group = augroup,
      pattern = M.config.filetypes,
      callback = function(args)
        M.start(args.buf)
      end,
    })
    for _, bufnr in ipairs(vim.api.nvim_list_bufs()) do
      if vim.api.nvim_buf_is_loaded(bufnr)
        and vim.tbl_contains(M.config.filetypes, vim.bo[bufnr].filetype)
      then
        M.start(bufnr)
      end
    end
  end

  pcall(vim.api.nvim_del_user_command, "RollguardRestart")
  vim.api.nvim_create_user_command("RollguardRestart", function()
    M.stop()
    -- Give the old clients a moment to exit, then attach every rollguard buffer again.
    vim.defer_fn(function()
      for _, bufnr in ipairs(vim.api.nvim_list_bufs()) do
        if vim.api.nvim_buf_is_loaded(bufnr)
          and vim.tbl_contains(M.config.filetypes, vim.bo[bufnr].filetype)
        then
          M.start(bufnr)
        end
      end
    end, 500)
  end, { desc = "Restart rollguard-lsp" })
end

return M
