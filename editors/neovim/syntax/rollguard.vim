" Vim syntax file for the rollguard policy language (grammar/rollguard.pest).
if exists("b:current_syntax")
  finish
endif

syn case match
syn iskeyword a-z,A-Z,48-57,_

syn keyword rollguardInclude     use
syn keyword rollguardDeclaration signal class scope let fn policy test nextgroup=rollguardDeclName skipwhite
syn match   rollguardDeclName    "\<[a-z_][a-z0-9_]*\>" contained
syn keyword rollguardKeyword     applies when require requires else for unless approval of within over
syn keyword rollguardKeyword     touches principals may snapshot expect by forbid services classes
syn keyword rollguardKeyword     authorized requester_may
syn keyword rollguardOperatorWord and or not in is
syn keyword rollguardAction      proceed inconclusive hold halt rollback promote override
syn keyword rollguardPrincipal   human agent service_account group
syn keyword rollguardProperty    irreversible security_fix
syn keyword rollguardBoolean     true false
syn keyword rollguardType        bool number count ratio duration string timestamp principal contained
syn match   rollguardTypeAnnot   ":\s*\<\(bool\|number\|count\|ratio\|duration\|string\|timestamp\|principal\|class\)\>" contains=rollguardType,rollguardTypeClass
syn match   rollguardTypeAnnot   "->\s*\<\(bool\|number\|count\|ratio\|duration\|string\|timestamp\|principal\|class\)\>" contains=rollguardType,rollguardTypeClass
syn match   rollguardTypeClass   "\<class\>" contained
syn keyword rollguardBuiltin     baseline samples delta age fresh max min avg has cel
syn keyword rollguardDeployment  deployment
syn match   rollguardField       "\.\s*\<[a-z_][a-z0-9_]*\>"hs=s+1
syn match   rollguardStd         "\<std::[a-z_][a-z0-9_]*\>"

syn match   rollguardNumber      "\<\d\+\(\.\d\+\)\=\>"
syn match   rollguardQuantity    "\<\d\+\(\.\d\+\)\=\(%\|\(ms\|s\|m\|h\)\>\)"
syn match   rollguardOperator    "==\|!=\|<=\|>=\|<\|>\|&&\|||\|!\|[-+*/%?:=]"
syn match   rollguardAnnotation  "@[a-z_][a-z0-9_]*"

syn match   rollguardEscape      "\\." contained
syn region  rollguardString      start=+"+ skip=+\\.+ end=+"+ end=+$+ contains=rollguardEscape oneline

syn keyword rollguardTodo        TODO FIXME XXX NOTE contained
syn match   rollguardComment     "//.*$" contains=rollguardTodo
syn match   rollguardDocComment  "///\(/\)\@!.*$" contains=rollguardTodo
syn region  rollguardComment     start="/\*" end="\*/" contains=rollguardTodo

hi def link rollguardInclude      Include
hi def link rollguardDeclaration  Structure
hi def link rollguardDeclName     Function
hi def link rollguardKeyword      Keyword
hi def link rollguardOperatorWord Operator
hi def link rollguardAction       Statement
hi def link rollguardPrincipal    Type
hi def link rollguardProperty     Constant
hi def link rollguardBoolean      Boolean
hi def link rollguardType         Type
hi def link rollguardTypeClass    Type
hi def link rollguardBuiltin      Function
hi def link rollguardDeployment   Identifier
hi def link rollguardField        Identifier
hi def link rollguardStd          Include
hi def link rollguardNumber       Number
hi def link rollguardQuantity     Number
hi def link rollguardOperator     Operator
hi def link rollguardAnnotation   PreProc
hi def link rollguardEscape       SpecialChar
hi def link rollguardString       String
hi def link rollguardTodo         Todo
hi def link rollguardComment      Comment
hi def link rollguardDocComment   SpecialComment

let b:current_syntax = "rollguard"
