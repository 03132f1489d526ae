-- nvim-lspconfig 1.x reads `lspconfig.configs.NAME`; the entry itself lives in
-- lspconfig/server_configurations/rollguard.lua.
return require("lspconfig.server_configurations.rollguard")
