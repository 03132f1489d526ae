-- Buffer settings for rollguard policy files.
if vim.b.did_ftplugin then
  return
end
vim.b.did_ftplugin = 1

vim.bo.commentstring = "// %s"
-- `///` doc comments first, so that `o` on a doc comment line starts another one.
vim.bo.comments = ":///,://,s1:/*,mb:*,ex:*/"
vim.bo.formatoptions = vim.bo.formatoptions:gsub("t", "") .. "croql"
vim.bo.expandtab = true
vim.bo.shiftwidth = 2
vim.bo.softtabstop = 2
-- Indent after `{`, back out on `}`.
vim.bo.autoindent = true
vim.bo.smartindent = true
vim.bo.suffixesadd = ".rollguard"

vim.b.undo_ftplugin = "setlocal commentstring< comments< formatoptions< expandtab< shiftwidth<"
  .. " softtabstop< autoindent< smartindent< suffixesadd<"
