-- Neovim 0.11+ native configuration (`:help lsp-config`): with editors/neovim on the
-- runtimepath, `vim.lsp.enable("rollguard")` starts rollguard-lsp for rollguard buffers.
return {
  cmd = { "rollguard-lsp" },
  filetypes = { "rollguard" },
  root_markers = { ".git" },
}
