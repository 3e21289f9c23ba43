// The workstation's texts, merged into the app's i18n when the workstation loads: they are not part of
// the patient's first load (pwa/src/shared/i18n holds the rest). Chinese first, English switchable.
import type { Composer } from 'vue-i18n'

const zh = {
  desk: {
    title: '医生阅片', patient: '患者', until: '有效至 {at}', studies: '共享的检查', series: '{n} 幅',
    report: '报告', noReport: '无报告', reportHidden: '患者未分享报告', close: '关闭', download: '下载原始影像',
    loading: '正在载入影像…', failed: '影像载入失败', retry: '重试', empty: '从左侧选择一个序列', noImages: '此序列没有可显示的图像',
    tools: {
      wl: '调窗', pan: '平移', zoom: '缩放', length: '测距', angle: '角度', ellipse: '椭圆 ROI', probe: '探针',
    },
    presets: { default: '默认窗', soft: '软组织', lung: '肺窗', bone: '骨窗', brain: '脑窗', mediastinum: '纵隔窗', abdomen: '腹部' },
    invert: '反色', reset: '复位', rotate: '旋转 90°', flipH: '水平翻转', clear: '清除测量',
    layout: '布局', compare: '对比', compareWith: '与哪次检查对比？', stopCompare: '结束对比', sync: '同步翻页',
    synced: '同步（按层面位置）', relink: '以当前层面重新对齐', play: '播放', pause: '暂停', fps: '{n} 帧/秒',
    help: '快捷键', measuredHere: '测量只保存在本浏览器，不会写入患者记录',
    slice: '{i}/{n}', position: '位置 {mm} mm', thickness: '层厚 {mm} mm', window: '窗宽 {w} 窗位 {c}', zoom: '缩放 {z}×',
    probe: '{value}', probeAt: '({x}, {y})', stored: '原始值',
    mean: '平均', sd: '标准差', min: '最小', max: '最大', area: '面积', pixels: '{n} 像素',
    caveat: {
      detector: '* 探测器平面距离（成像像素间距），未校正几何放大，实际解剖尺寸通常更小（DICOM PS3.3 10.7.1.1）',
      magnification: '* 按估计放大系数校正的成像像素间距（DICOM PS3.3 10.7.1.1），仍为估计值',
      none: '* 无像素间距：单位为像素',
    },
    hints: '滚轮翻页 · 左键：当前工具 · 中键拖动平移 · 右键拖动缩放 · 双击复位 · 按 ? 查看快捷键',
    keys: {
      title: '键盘与鼠标', scroll: '上一幅 / 下一幅', page: '前后翻 10 幅', ends: '第一幅 / 最后一幅', presets: '预设窗',
      tools: '工具：调窗 W · 平移 P · 缩放 Z · 测距 L · 角度 A · 椭圆 ROI E · 探针 V', invert: '反色', reset: '复位视图',
      rotate: '旋转 90°', play: '播放 / 暂停', layout: '布局 1×1 / 1×2 / 2×2', compare: '对比另一检查',
      sync: '同步翻页开 / 关', next: '切换到下一个视窗', del: '删除最后一个测量', clear: '清除全部测量', help: '显示 / 关闭本帮助',
      wheel: '滚轮：翻页；Ctrl+滚轮：缩放', left: '左键拖动：当前工具', middle: '中键拖动：平移', right: '右键拖动：缩放',
      dbl: '双击：复位视图', close: '关闭',
    },
  },
}

const en = {
  desk: {
    title: 'Reading', patient: 'Patient', until: 'Until {at}', studies: 'Shared studies', series: '{n} image | {n} images',
    report: 'Report', noReport: 'No report', reportHidden: 'Report not shared', close: 'Close', download: 'Download originals',
    loading: 'Loading images…', failed: 'The images could not be loaded', retry: 'Retry', empty: 'Pick a series on the left', noImages: 'This series has no images to show',
    tools: {
      wl: 'W/L', pan: 'Pan', zoom: 'Zoom', length: 'Length', angle: 'Angle', ellipse: 'Ellipse', probe: 'Probe',
    },
    presets: { default: 'Default', soft: 'Soft tissue', lung: 'Lung', bone: 'Bone', brain: 'Brain', mediastinum: 'Mediastinum', abdomen: 'Abdomen' },
    invert: 'Invert', reset: 'Reset', rotate: 'Rotate', flipH: 'Flip', clear: 'Clear',
    layout: 'Layout', compare: 'Compare', compareWith: 'Compare with which study?', stopCompare: 'End compare', sync: 'Sync scroll',
    synced: 'Synced (by slice position)', relink: 'Re-align at the current slices', play: 'Play', pause: 'Pause', fps: '{n} fps',
    help: 'Shortcuts', measuredHere: 'Measurements stay in this browser and are never written into the record',
    slice: '{i}/{n}', position: 'Pos {mm} mm', thickness: 'Thk {mm} mm', window: 'W {w} L {c}', zoom: 'Zoom {z}×',
    probe: '{value}', probeAt: '({x}, {y})', stored: 'stored',
    mean: 'Mean', sd: 'SD', min: 'Min', max: 'Max', area: 'Area', pixels: '{n} px',
    caveat: {
      detector: '* Detector-plane distances (Imager Pixel Spacing), not corrected for geometric magnification: anatomy is usually smaller (DICOM PS3.3 10.7.1.1)',
      magnification: '* Imager Pixel Spacing corrected by the estimated magnification factor (DICOM PS3.3 10.7.1.1): an estimate',
      none: '* No pixel spacing: lengths in pixels',
    },
    hints: 'Wheel: scroll · Left: current tool · Middle-drag: pan · Right-drag: zoom · Double-click: reset · ? for shortcuts',
    keys: {
      title: 'Keyboard and mouse', scroll: 'Previous / next image', page: 'Back / forward 10 images', ends: 'First / last image', presets: 'Window presets',
      tools: 'Tools: Window W · Pan P · Zoom Z · Length L · Angle A · Ellipse ROI E · Probe V', invert: 'Invert', reset: 'Reset the view',
      rotate: 'Rotate 90°', play: 'Play / pause', layout: 'Layout 1×1 / 1×2 / 2×2', compare: 'Compare with another study',
      sync: 'Sync scroll on / off', next: 'Next viewport', del: 'Delete the last measurement', clear: 'Clear all measurements', help: 'Show / hide this help',
      wheel: 'Wheel: scroll; Ctrl+wheel: zoom', left: 'Left-drag: current tool', middle: 'Middle-drag: pan', right: 'Right-drag: zoom',
      dbl: 'Double-click: reset the view', close: 'Close',
    },
  },
}

let merged = false

/** Called from a component's setup with the global composer (useI18n({ useScope: 'global' })). */
export function mergeDeskMessages(composer: Pick<Composer, 'mergeLocaleMessage'>): void {
  if (merged) return
  composer.mergeLocaleMessage('zh-CN', zh)
  composer.mergeLocaleMessage('en', en)
  merged = true
}
