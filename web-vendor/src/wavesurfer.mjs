// wavesurfer.js with its Regions and Timeline plugins, exposed as
// window.WaveSurfer, WaveSurfer.Regions and WaveSurfer.Timeline (the same
// names upstream's UMD builds use).
import WaveSurfer from "wavesurfer.js";
import RegionsPlugin from "wavesurfer.js/dist/plugins/regions.esm.js";
import TimelinePlugin from "wavesurfer.js/dist/plugins/timeline.esm.js";

WaveSurfer.Regions = RegionsPlugin;
WaveSurfer.Timeline = TimelinePlugin;
window.WaveSurfer = WaveSurfer;
