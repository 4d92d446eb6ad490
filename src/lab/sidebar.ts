/** The left-sidebar widget: follows the active notebook or console, connects the panel to its kernel, and
 * re-lists after each executed cell, each inline-widget action and each kernel restart or change. */

import type { ISessionContext } from "@jupyterlab/apputils";
import type { Kernel } from "@jupyterlab/services";
import type { Message } from "@lumino/messaging";
import { Widget } from "@lumino/widgets";
import type { DetailsHost } from "../tree/DetailsLayout";
import { __ } from "../tree/i18n";
import { ModelsPanel } from "./panel";
import { KernelTransport } from "./transport";
import { WatchChannel } from "./watchComm";
import { KernelWatcher } from "./watcher";

/** A notebook or console panel: what the sidebar needs of it. */
export interface KernelHost {
  readonly sessionContext: ISessionContext;
  readonly title: { readonly label: string };
}

export interface SidebarSettings {
  /** List the models again after every executed cell and inline-widget action. */
  autoRefresh: boolean;
  /** Children per request in expanded trees. */
  maxChildrenPerPage: number;
}

export class ModelsSidebar extends Widget {
  static readonly id = "paramscope-models";
  readonly panel: ModelsPanel;
  private host: KernelHost | null = null;
  private kernel: Kernel.IKernelConnection | null = null;
  private watcher: KernelWatcher | null = null;
  private channel: WatchChannel | null = null; // live watch updates while a training cell runs
  private settings: SidebarSettings;
  private stale = false; // something changed while the sidebar was hidden: list when shown

  constructor(settings: SidebarSettings, detailsHost?: DetailsHost) {
    super();
    this.id = ModelsSidebar.id;
    this.addClass("jp-ParamScope-sidebarWidget");
    this.title.caption = __("Models (paramscope)");
    this.settings = settings;
    this.panel = new ModelsPanel({ pageSize: settings.maxChildrenPerPage, detailsHost });
    this.node.append(this.panel.element);
  }

  configure(settings: SidebarSettings): void {
    this.settings = settings;
    this.panel.setPageSize(settings.maxChildrenPerPage);
  }

  /** Show the models of `host`'s kernel (null: no notebook or console is open). */
  follow(host: KernelHost | null): void {
    if (host === this.host) return;
    this.host?.sessionContext.kernelChanged.disconnect(this.onKernelChanged, this);
    this.host = host;
    host?.sessionContext.kernelChanged.connect(this.onKernelChanged, this);
    this.use(host?.sessionContext.session?.kernel ?? null);
  }

  override dispose(): void {
    if (this.isDisposed) return;
    this.follow(null);
    this.panel.dispose();
    super.dispose();
  }

  protected override onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    if (this.stale) this.list(true);
  }

  private onKernelChanged(): void {
    this.use(this.host?.sessionContext.session?.kernel ?? null);
  }

  private use(kernel: Kernel.IKernelConnection | null): void {
    if (kernel === this.kernel && kernel !== null) return;
    this.watcher?.dispose();
    this.watcher = null;
    this.channel?.dispose();
    this.channel = null;
    this.kernel = kernel;
    const label = this.host ? `${this.host.title.label} · ${this.host.sessionContext.kernelDisplayName}` : "";
    if (!kernel) {
      this.panel.connect(null, label, this.host ? __("No kernel: start one for this notebook to see its models.") : undefined);
      return;
    }
    this.watcher = new KernelWatcher(kernel, {
      cellBusy: (busy) => this.panel.setCellBusy(busy),
      cellDone: () => this.changed(true),
      widgetAction: () => this.changed(),
      restarting: (down) => {
        if (down) this.panel.reset(__("Kernel restarting…"));
        else this.list();
      },
    });
    this.panel.connect(new KernelTransport(kernel, (pending) => this.panel.setPending(pending)), label);
    this.channel = new WatchChannel(kernel, (push) => this.panel.noteWatch(push.model ?? "", push.state));
    this.list();
  }

  private changed(cell = false): void {
    if (this.settings.autoRefresh) this.list(cell);
  }

  /** List now if visible, else when shown: a hidden sidebar sends nothing to the kernel. After a cell the open
   * explorers also check whether the values they show changed. */
  private list(cell = false): void {
    if (!this.isVisible) {
      this.stale = true;
      return;
    }
    this.stale = false;
    // Once a listing is answered, paramscope is imported in the kernel and the watch channel can open.
    void (cell ? this.panel.afterCell() : this.panel.refresh()).then(() => this.channel?.ensure());
  }
}
