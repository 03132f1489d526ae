// The rollguard extension: starts rollguard-lsp over stdio for `.rollguard` files.
// Highlighting comes from syntaxes/rollguard.tmLanguage.json and works without the server.

import * as os from "os";
import * as path from "path";
import * as vscode from "vscode";
import {
  LanguageClient,
  LanguageClientOptions,
  ServerOptions,
  TransportKind,
} from "vscode-languageclient/node";

const SECTION = "rollguard";
let client: LanguageClient | undefined;
let output: vscode.OutputChannel | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  output = vscode.window.createOutputChannel("rollguard");
  context.subscriptions.push(output);

  context.subscriptions.push(
    vscode.commands.registerCommand("rollguard.restartServer", async () => {
      await stopClient();
      await startClient();
    }),
    vscode.workspace.onDidChangeConfiguration(async (event) => {
      if (event.affectsConfiguration(`${SECTION}.server`)) {
        await stopClient();
        await startClient();
      }
    }),
  );

  await startClient();
}

export async function deactivate(): Promise<void> {
  await stopClient();
}

/** The server command from `rollguard.server.path`, with `~` and `${workspaceFolder}` expanded. */
export function resolveServerPath(setting: string, workspaceFolder: string | undefined): string {
  let command = setting.trim() || "rollguard-lsp";
  if (workspaceFolder !== undefined) {
    command = command.replace(/\$\{workspaceFolder\}/g, workspaceFolder);
  }
  if (command === "~" || command.startsWith("~/")) {
    command = path.join(os.homedir(), command.slice(1));
  }
  // A bare name is looked up on PATH; a relative path is taken from the workspace.
  const hasSeparator = command.includes("/") || command.includes("\\");
  if (hasSeparator && !path.isAbsolute(command) && workspaceFolder !== undefined) {
    command = path.join(workspaceFolder, command);
  }
  return command;
}

async function startClient(): Promise<void> {
  const config = vscode.workspace.getConfiguration(SECTION);
  const folder = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
  const command = resolveServerPath(config.get<string>("server.path", "rollguard-lsp"), folder);
  const args = config.get<string[]>("server.args", []);

  const run = { command, args, transport: TransportKind.stdio };
  const serverOptions: ServerOptions = { run, debug: run };
  const clientOptions: LanguageClientOptions = {
    documentSelector: [
      { scheme: "file", language: "rollguard" },
      { scheme: "untitled", language: "rollguard" },
    ],
    // The files of a directory form one policy set: tell the server when any of them changes.
    synchronize: {
      fileEvents: vscode.workspace.createFileSystemWatcher("**/*.rollguard"),
    },
    outputChannel: output,
  };

  client = new LanguageClient(SECTION, "rollguard language server", serverOptions, clientOptions);
  try {
    await client.start();
  } catch (err) {
    const detail = err instanceof Error ? err.message : String(err);
    client = undefined;
    const choice = await vscode.window.showErrorMessage(
      `rollguard: could not start the language server \`${command}\` (${detail}). ` +
        "Install it with `cargo install --path lsp` from the rollguard repository, " +
        "or set `rollguard.server.path`.",
      "Open settings",
    );
    if (choice === "Open settings") {
      await vscode.commands.executeCommand("workbench.action.openSettings", "rollguard.server.path");
    }
  }
}

async function stopClient(): Promise<void> {
  const running = client;
  client = undefined;
  if (running !== undefined) {
    try {
      await running.stop();
    } catch {
      // The server may already be gone (it crashed or was never started).
    }
  }
}
