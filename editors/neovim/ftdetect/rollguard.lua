-- `*.rollguard` files have the filetype `rollguard` (Neovim 0.7 and later).
require("rollguard").filetype()
