-- nvim-lspconfig entry for rollguard-lsp (lspconfig releases before 1.0 read
-- `lspconfig.server_configurations.NAME`; later ones read `lspconfig.configs.NAME`, which
-- returns this table). With editors/neovim on the runtimepath:
--
--   require("lspconfig").rollguard.setup({})
local util = require("lspconfig.util")

return {
  default_config = {
    cmd = { "rollguard-lsp" },
    filetypes = { "rollguard" },
    root_dir = function(fname)
      return util.root_pattern(".git")(fname) or vim.fn.fnamemodify(fname, ":p:h")
    end,
    single_file_support = true,
  },
  docs = {
    description = [[
rollguard-lsp, the language server of the rollguard policy language: diagnostics with the
codes of `rollguard check`, hover and go to definition.

Install it from the rollguard repository with `cargo install --path lsp`.
]],
    default_config = {
      root_dir = [[root_pattern(".git") or the file's directory]],
    },
  },
}
